"""Declarative base of the teams database (naming convention from the kit)."""

from sqlalchemy.orm import DeclarativeBase

from fupin_kit.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
