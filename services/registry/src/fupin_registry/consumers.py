"""Event subscribers of the registry service: decode → inbox → service call."""

from collections.abc import Sequence

from fastapi import FastAPI

from fupin_kit.inbox import EventConsumer
from fupin_registry.dci.notify import build_dci_consumers
from fupin_registry.pairing.consumer import pairing_consumer


def build_consumers(app: FastAPI) -> Sequence[EventConsumer]:
    # DCI: the notify consumer and the notification sender (duck-typed: name + run(stop)).
    return [pairing_consumer(app), *build_dci_consumers(app)]
