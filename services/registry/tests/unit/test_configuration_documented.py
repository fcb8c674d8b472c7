"""Every registry setting is listed, with its default, in docs/configuration.md."""

import os
from pathlib import Path

import pytest

from fupin_registry import config
from fupin_registry.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented_with_its_default():
    text = DOC.read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[2].strip()
        for line in text.splitlines()
        if line.startswith("| `REGISTRY_")
    }
    missing = [name for name in Settings.model_fields if f"REGISTRY_{name.upper()}" not in rows]
    assert missing == []
    unknown = sorted(set(rows) - {f"REGISTRY_{name.upper()}" for name in Settings.model_fields})
    assert unknown == []
    defaults = Settings.model_fields
    for name in ("notice_days", "eligibility_age_max", "import_chunk_rows", "exit_stable_years"):
        assert rows[f"REGISTRY_{name.upper()}"] == str(defaults[name].default)


@pytest.mark.parametrize(
    ("cpus", "workers", "merges"),
    [(1, 1, 2), (2, 1, 2), (4, 2, 2), (8, 4, 3), (16, 8, 5), (64, 8, 16)],
)
def test_import_processes_and_connections_default_to_shares_of_the_cpus(
    monkeypatch, cpus, workers, merges
):
    monkeypatch.setattr(config, "available_cpus", lambda: cpus)
    settings = Settings(_env_file=None)
    assert (settings.import_workers, settings.import_merge_connections) == (workers, merges)


def test_import_processes_set_in_the_environment_win_over_the_cpus(monkeypatch):
    monkeypatch.setattr(config, "available_cpus", lambda: 16)
    monkeypatch.setenv("REGISTRY_IMPORT_WORKERS", "0")
    monkeypatch.setenv("REGISTRY_IMPORT_MERGE_CONNECTIONS", "1")
    settings = Settings(_env_file=None)
    assert (settings.import_workers, settings.import_merge_connections) == (0, 1)


def test_available_cpus_are_those_the_process_may_run_on():
    assert 1 <= config.available_cpus() <= (os.cpu_count() or 1)
