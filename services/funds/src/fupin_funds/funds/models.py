from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class Fund(Base):
    """A special fund (专项资金) of one source and budget year held at a region. Its money lives
    in the ledger: appropriations credit the ``appropriation`` account and debit the fund pool."""

    __tablename__ = "funds"
    __table_args__ = (
        Index("uq_funds_region_source_year", "region_code", "source", "year", unique=True),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    region_code: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
