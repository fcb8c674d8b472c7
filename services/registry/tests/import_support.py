"""What the import's unit tests share: the rules rows are checked by and a producer's
configuration for a file."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from fupin_registry.config import Settings
from fupin_registry.imports.columns import HEADERS
from fupin_registry.imports.limits import ReadLimits
from fupin_registry.imports.pipeline import ProducerConfig
from fupin_registry.imports.readers import sniff
from fupin_registry.imports.rows import Rules

TODAY = dt.date(2026, 6, 1)
RULES = Rules(
    villages=frozenset({"220102001001", "220102001002"}),
    jurisdiction="220102",
    max_income=Decimal("10000000"),
    max_members=20,
    earliest_year=2013,
    today=TODAY,
)


def column(name: str) -> int:
    return HEADERS.index(name)


def producer_config(
    path: Path,
    *,
    rules: Rules = RULES,
    chunk_rows: int = 10_000,
    calamine_max_bytes: int = 0,
    limits: ReadLimits | None = None,
) -> ProducerConfig:
    """A producer's configuration for ``path`` with the registry's default keys."""
    settings = Settings()
    return ProducerConfig(
        job_id="00000000-0000-4000-8000-000000000001",
        path=str(path),
        facts=sniff(path),
        rules=rules,
        chunk_rows=chunk_rows,
        calamine_max_bytes=calamine_max_bytes,
        pii_keys=settings.pii_keys,
        blind_index_key=settings.blind_index_key,
        actor="user:importer",
        **({} if limits is None else {"limits": limits}),
    )
