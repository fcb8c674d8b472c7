"""Generate the committed JSON Schemas (one per event type) and the AsyncAPI 3 document.

``fupin-events-export`` writes them under ``shared/events/schemas``; a test fails when the
committed files differ from what the code generates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fupin_events.catalog import CATALOG
from fupin_events.envelope import CloudEvent
from fupin_events.topics import DEAD_LETTER_TOPICS, Topic

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema of the full envelope with that event's data model."""
    out: dict[str, dict[str, Any]] = {}
    for spec in CATALOG.values():
        schema = CloudEvent[spec.model].model_json_schema()  # type: ignore[name-defined]
        schema["$id"] = spec.dataschema
        schema["title"] = spec.type
        schema["properties"]["type"]["const"] = spec.type
        out[f"{spec.name}.json"] = schema
    return out


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in Topic:
        specs = [s for s in CATALOG.values() if s.topic == topic]
        key = topic.value.replace(".", "_")
        channels[key] = {
            "address": topic.value,
            "description": f"key = aggregate id; produced by {topic.value.split('.')[0]}",
            "messages": {
                s.name.replace(".", "_"): {
                    "$ref": f"#/components/messages/{s.name.replace('.', '_')}"
                }
                for s in specs
            },
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
        }
        for s in specs:
            messages[s.name.replace(".", "_")] = {
                "name": s.type,
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": f"schemas/{s.name}.json"},
            }
    for service, dlt in DEAD_LETTER_TOPICS.items():
        channels[dlt.replace(".", "_")] = {
            "address": dlt,
            "description": f"messages {service} could not process, with the error in headers",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "fupin events",
            "version": "1.0.0",
            "description": "Events exchanged between the fupin services over Apache Kafka.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered_files() -> dict[str, str]:
    files = {
        name: json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, schema in event_schemas().items()
    }
    files["asyncapi.json"] = (
        json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fupin-events-export",
        description="Write the JSON Schema of every event and the AsyncAPI document, replacing"
        " the *.json files already in the directory.",
    )
    parser.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=SCHEMA_DIR,
        help=f"where to write them (default: {SCHEMA_DIR})",
    )
    target = parser.parse_args(argv).directory
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.json"):
        old.unlink()
    for name, text in rendered_files().items():
        (target / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(rendered_files())} files to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
