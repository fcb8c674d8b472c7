"""fupin teams service (port 8103)."""

from fastapi import FastAPI

from fupin_kit.app import create_service_app
from fupin_teams.config import Settings
from fupin_teams.consumers import build_consumers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="fupin teams",
        description=(
            "Stationed village work teams (驻村工作队): teams, quantified tasks, visits, cadre- "
            "household pairing, assessment and coverage."
        ),
        routers=[],
        consumers=build_consumers,
    )


app = create_app()
