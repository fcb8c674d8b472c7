from __future__ import annotations

from sqlalchemy import Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class Region(Base):
    """A statistical division: province (2 digits), city (4), county (6), township (9),
    village (12)."""

    __tablename__ = "regions"
    __table_args__ = (Index("ix_regions_parent_code", "parent_code"),)

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
