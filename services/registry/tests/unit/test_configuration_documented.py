"""Every registry setting is listed, with its default, in docs/configuration.md."""

from pathlib import Path

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
