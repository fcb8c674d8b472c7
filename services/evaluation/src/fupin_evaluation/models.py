"""Imports every model module so that Alembic sees all tables."""
