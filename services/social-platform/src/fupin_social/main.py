"""fupin social platform service (port 8105)."""

from fastapi import FastAPI

from fupin_kit.app import create_service_app
from fupin_social.config import Settings
from fupin_social.consumers import build_consumers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="fupin social platform",
        description=(
            "Public poverty information, donor project listings with IATI export, pledges and "
            "donations, investment projects, commendations (社会扶贫信息平台)."
        ),
        routers=[],
        consumers=build_consumers,
    )


app = create_app()
