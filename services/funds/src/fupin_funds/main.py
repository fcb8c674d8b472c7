"""fupin funds service (port 8102)."""

from fastapi import FastAPI

from fupin_kit.app import create_service_app

from fupin_funds.config import Settings
from fupin_funds.consumers import build_consumers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="fupin funds",
        description="Special poverty funds (财政专项扶贫资金): allocation with performance awards, project library and public announcement, disbursement ledger, supervision, subsidised loans.",
        routers=[],
        consumers=build_consumers,
    )


app = create_app()
