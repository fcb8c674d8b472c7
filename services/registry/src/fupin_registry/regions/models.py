"""Region reference data: Jilin's statistical divisions, with rural population per region."""

from __future__ import annotations

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class Region(TimestampMixin, Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)  # province, city, county, township, village
    parent_code: Mapped[str | None] = mapped_column(Text, index=True)
    rural_population: Mapped[int | None] = mapped_column(Integer)
