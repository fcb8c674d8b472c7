"""fupin evaluation service (port 8104)."""

from fastapi import FastAPI

from fupin_evaluation.config import Settings
from fupin_evaluation.consumers import build_consumers
from fupin_kit.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="fupin evaluation",
        description=(
            "County assessment on poverty-alleviation results (考核), the ten key tasks, "
            "quarterly dispatch and reports, key-county exit."
        ),
        routers=[],
        consumers=build_consumers,
    )


app = create_app()
