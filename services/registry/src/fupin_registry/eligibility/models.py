"""Indexes the eligibility lookups need on the register's tables (created by migration 0200)."""

from sqlalchemy import Index

from fupin_registry.households.models import Member

# Checks must also find people whose membership ended (removed households, natural decrease,
# people who left): the partial unique index covers active members only, and a person who is
# not in the register at all must not cost a table scan.
members_by_id_index = Index("ix_members_id_index_all", Member.id_index)
