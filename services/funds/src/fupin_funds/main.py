"""fupin funds service (port 8102)."""

from fupin_funds.allocations.router import factors as allocation_factors
from fupin_funds.allocations.router import router as allocations
from fupin_funds.announcements.router import public as public_notice
from fupin_funds.announcements.router import router as objections
from fupin_funds.common.admission import MoneyCommandAdmission, MoneyGate
from fupin_funds.common.privacy import seal_idempotent_responses
from fupin_funds.config import Settings
from fupin_funds.consumers import build_consumers
from fupin_funds.disbursements.payments import PaymentContexts
from fupin_funds.disbursements.router import pay_from_project_lean
from fupin_funds.disbursements.router import router as disbursements
from fupin_funds.funds.router import router as funds
from fupin_funds.households.router import router as households
from fupin_funds.ledger.batches import PostingBatches
from fupin_funds.ledger.refusals import ledger_refusal, race_refusal
from fupin_funds.ledger.router import router as ledger
from fupin_funds.loans.router import risk as risk_compensation
from fupin_funds.loans.router import router as loans
from fupin_funds.projects.router import authorities as approval_authorities
from fupin_funds.projects.router import router as projects
from fupin_funds.regions.router import router as regions
from fupin_funds.supervision.router import router as supervision
from fupin_kit.app import create_service_app
from fupin_kit.audit_api import router as audit_router
from fupin_kit.lean import ServiceApp


def create_app(settings: Settings | None = None) -> ServiceApp:
    settings = settings or Settings()
    app = create_service_app(
        settings,
        title="fupin funds",
        description="Special poverty funds (财政专项扶贫资金): allocation with performance awards,"
        " project library and public announcement, disbursement ledger, supervision,"
        " subsidised loans.",
        # The disbursement routes come first: the router matches routes in order, and they are the
        # hot path (see bench/README.md).
        routers=[
            disbursements,
            funds,
            allocations,
            allocation_factors,
            projects,
            approval_authorities,
            ledger,
            public_notice,
            objections,
            supervision,
            loans,
            risk_compensation,
            households,
            regions,
            audit_router,
        ],
        consumers=build_consumers,
        on_startup=[seal_idempotent_responses],
    )
    # One gate: the express route runs the same middlewares, so it shares the bulkhead.
    app.add_middleware(MoneyCommandAdmission, gate=MoneyGate(settings.money_command_concurrency))
    app.add_express_route("/v1/projects/{project_id}/payments", pay_from_project_lean, "POST")
    # Postings settle at commit; a refusal there is answered like one at posting time.
    app.state.integrity_problems = [ledger_refusal, race_refusal]
    # Connections are looked up at each call: tests swap app.state.driver_connections.
    app.state.payment_contexts = PaymentContexts(
        lambda: app.state.driver_connections, settings.ledger_batch_size
    )
    app.state.posting_batches = PostingBatches(
        lambda: app.state.driver_connections,
        settings.ledger_batch_size,
        settings.ledger_batch_flushers,
    )
    return app


app = create_app()
