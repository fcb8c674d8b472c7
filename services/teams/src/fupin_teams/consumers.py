"""Event subscribers of the teams service: decode → inbox → service call."""

from collections.abc import Sequence

from fastapi import FastAPI

from fupin_kit.inbox import EventConsumer


def build_consumers(app: FastAPI) -> Sequence[EventConsumer]:
    return []
