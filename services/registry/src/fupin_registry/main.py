"""fupin registry service (port 8101): the household register (建档立卡)."""

from fupin_kit.app import create_service_app
from fupin_kit.audit_api import router as audit_router
from fupin_kit.lean import ServiceApp
from fupin_registry.config import Settings
from fupin_registry.consumers import build_consumers
from fupin_registry.crosscheck.router import router as crosscheck_router
from fupin_registry.dci.router import router as dci_router
from fupin_registry.dci.runtime import start_dci, stop_dci
from fupin_registry.eligibility.endpoint import install_fast_routes
from fupin_registry.eligibility.router import router as eligibility_router
from fupin_registry.eligibility.runtime import start_eligibility, stop_eligibility
from fupin_registry.households.router import router as households_router
from fupin_registry.identification.router import router as identification_router
from fupin_registry.imports.router import router as imports_router
from fupin_registry.privacy import Privacy, seal_idempotent_responses
from fupin_registry.quotas.router import router as quotas_router
from fupin_registry.regions.directory import warm_region_directory
from fupin_registry.regions.router import router as regions_router
from fupin_registry.statistics.router import router as statistics_router

DESCRIPTION = """
The household register (建档立卡): households and members with the national registration
fields, the identification and exit workflows with public notice, quotas, full history (read
the register as of any date), bulk import of county spreadsheets, cross-department checks,
the bank eligibility API and the DCI Social Registry API for partner agencies.

Personal data is encrypted at rest and masked unless the caller holds `pii:read`; every
unmasked read and every eligibility check is written to the hash-chained audit trail. Every
error is `application/problem+json`.
"""


def create_app(settings: Settings | None = None) -> ServiceApp:
    settings = settings or Settings()
    app = create_service_app(
        settings,
        title="fupin registry",
        description=DESCRIPTION,
        routers=[
            eligibility_router,
            regions_router,
            households_router,
            identification_router,
            quotas_router,
            statistics_router,
            crosscheck_router,
            imports_router,
            dci_router,
            audit_router,
        ],
        consumers=build_consumers,
        on_startup=[
            seal_idempotent_responses,
            warm_region_directory,
            start_eligibility,
            start_dci,
        ],
        on_shutdown=[stop_dci, stop_eligibility],
    )
    # Bank checks are served as express routes in front of the middleware stack (the declared
    # eligibility routes above stay for the OpenAPI document).
    install_fast_routes(app)
    app.state.privacy = Privacy(settings)
    return app


app = create_app()
