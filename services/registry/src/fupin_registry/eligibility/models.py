"""Indexes the eligibility lookups need on the register's tables (created by migration 0200),
and the rate limit's buckets (migration 1400), shared with the DCI partners' limit."""

from sqlalchemy import Index

from fupin_kit.ratelimit import declare_rate_buckets
from fupin_registry.db import Base
from fupin_registry.households.models import Member

rate_buckets = declare_rate_buckets(Base.metadata)

# Checks must also find people whose membership ended (removed households, natural decrease,
# people who left): the partial unique index covers active members only, and a person who is
# not in the register at all must not cost a table scan.
members_by_id_index = Index("ix_members_id_index_all", Member.id_index)
