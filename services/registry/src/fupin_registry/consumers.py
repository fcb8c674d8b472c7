"""Event subscribers of the registry service: decode → inbox → service call."""

from collections.abc import Sequence

from fastapi import FastAPI

from fupin_kit.inbox import EventConsumer
from fupin_registry.dci.notify import build_dci_consumers


def build_consumers(app: FastAPI) -> Sequence[EventConsumer]:
    # DCI: the notify consumer and the notification sender (duck-typed: name + run(stop)).
    return [*build_dci_consumers(app)]
