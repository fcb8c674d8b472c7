"""Event contracts: committed schemas equal the generated ones; topics agree with deploy."""

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from fupin_events import CATALOG, DEAD_LETTER_TOPICS, TOPICS
from fupin_events.envelope import decode, new_event
from fupin_events.export import SCHEMA_DIR, rendered_files
from fupin_events.registry import HouseholdStatus, HouseholdStatusChanged

REPO = Path(__file__).resolve().parents[3]


def test_committed_schemas_and_asyncapi_are_current():
    generated = rendered_files()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMA_DIR.glob("*.json")}
    stale = sorted(
        n for n in generated.keys() | committed.keys() if generated.get(n) != committed.get(n)
    )
    assert not stale, f"run `uv run fupin-events-export`; out of date: {stale}"


def test_every_topic_has_events_and_the_deploy_table_matches():
    assert {spec.topic.value for spec in CATALOG.values()} == set(TOPICS)
    table = REPO / "deploy" / "kafka" / "topics.tsv"
    rows = [
        line.split("\t")[0]
        for line in table.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    rows = [r for r in rows if r != "topic"]
    assert sorted(rows) == sorted([*TOPICS, *DEAD_LETTER_TOPICS.values()])


def test_envelope_round_trip_validates_against_its_schema():
    event = new_event(
        HouseholdStatusChanged(
            household_id="h1",
            village_code="220622100201",
            from_status=None,
            to_status=HouseholdStatus.IDENTIFIED,
            effective_on="2026-01-05",
            member_count=3,
        ),
        subject="h1",
    )
    wire = event.model_dump_json()
    schema = json.loads(rendered_files()[f"{CATALOG[event.type].name}.json"])
    jsonschema.validate(json.loads(wire), schema)
    again = decode(wire)
    assert again.id == event.id and again.data == event.data
    assert again.type == "fupin.registry.household.status_changed.v1"
    assert again.source == "/fupin/registry" and again.subject == "h1"


def test_a_field_a_newer_producer_added_is_ignored_not_refused():
    """Changes within a version are additive: a consumer on the older package keeps applying
    the event (the producing side stays closed to unknown fields)."""
    event = new_event(
        HouseholdStatusChanged(
            household_id="h1",
            village_code="220622100201",
            from_status=HouseholdStatus.IDENTIFIED,
            to_status=HouseholdStatus.EXITED,
            effective_on="2026-01-05",
            member_count=3,
        ),
        subject="h1",
    )
    wire = json.loads(event.model_dump_json())
    wire["data"]["exit_assessment"] = {"stable_years": 2}  # added by a newer producer
    again = decode(json.dumps(wire))
    assert again.data == event.data
    assert not hasattr(again.data, "exit_assessment")
    with pytest.raises(ValidationError):
        HouseholdStatusChanged.model_validate(wire["data"])
