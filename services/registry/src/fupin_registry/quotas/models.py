"""Quotas (规模控制): how many poor people a region may register in a year."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class Quota(TimestampMixin, Base):
    __tablename__ = "quotas"
    __table_args__ = (CheckConstraint("quota >= 0", name="quota_not_negative"),)

    region_code: Mapped[str] = mapped_column(Text, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    quota: Mapped[int] = mapped_column(Integer)  # people
    parent_code: Mapped[str | None] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(Text)
