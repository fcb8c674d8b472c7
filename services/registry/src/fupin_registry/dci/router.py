"""HTTP routes of the DCI Social Registry API v1.0.0 and the partner administration.

DCI endpoints answer in the spec's own envelopes (not problem+json): HttpErrorResponse for
bearer/scope failures (401/403), ERR acknowledgements for refused asynchronous messages and bad
signatures, callback-shaped replies for synchronous calls. See docs/dci.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from fupin_kit.db import SessionDep, session_scope
from fupin_kit.logging import get_logger
from fupin_kit.problems import problem_responses
from fupin_registry.dci.dependencies import AdminDep, DciDep, IfMatch, etag, expected_version
from fupin_registry.dci.protocol import DciRefusal, HttpRefusal, Inbound, parse_message
from fupin_registry.dci.query import values_tested
from fupin_registry.dci.repository import PartnerRepository, TransactionRepository
from fupin_registry.dci.runtime import DciRuntime
from fupin_registry.dci.schemas import (
    PartnerCreate,
    PartnerRead,
    PartnerUpdate,
    SearchRequest,
    SubscribeRequest,
    TxnStatusRequest,
    UnSubscribeRequest,
)
from fupin_registry.dci.service import (
    FAILED_REASON,
    PartnerService,
    SearchService,
    SubscriptionService,
    TxnStatusService,
    failed_search,
    failed_subscribe,
    failed_unsubscribe,
    seal_reply,
)
from fupin_registry.privacy import PII_READ_SCOPE, Privacy, get_privacy

SEARCH_SCOPE = "dci:search"
SUBSCRIBE_SCOPE = "dci:subscribe"

router = APIRouter(tags=["dci"])
log = get_logger("fupin.registry.dci")
SenderPath = Annotated[str, Path(min_length=1, max_length=99)]


@dataclass(frozen=True)
class Context:
    """What an operation needs besides its session and message."""

    inbound: Inbound
    privacy: Privacy
    runtime: DciRuntime
    correlation_id: str


Run = Callable[[Context, Any, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Operation:
    action: str  # header.action of the request
    reply_action: str  # header.action of the answer / callback
    scope: str
    model: type[BaseModel]
    count: Callable[[Any], int]
    references: Callable[[Any], list[str]]
    run: Run
    items_key: str | None  # where the per-request statuses are in the reply
    # The callback message when processing fails inside the registry (None: header only).
    failed: Callable[[Any, str], dict[str, Any]] | None = None
    cost: Callable[[Any], int] | None = None  # tokens of the partner's rate limit; None: count


async def _search(ctx: Context, session: Any, message: SearchRequest) -> dict[str, Any]:
    service = SearchService(session, ctx.privacy, ctx.runtime.settings, ctx.inbound.caller)
    return await service.search(ctx.inbound.partner.sender_id, ctx.correlation_id, message)


async def _subscribe(ctx: Context, session: Any, message: SubscribeRequest) -> dict[str, Any]:
    service = SubscriptionService(session, ctx.privacy, ctx.inbound.caller)
    sender_uri = ctx.inbound.header.sender_uri or ""
    return await service.subscribe(
        ctx.inbound.partner.sender_id, sender_uri, ctx.correlation_id, message
    )


async def _unsubscribe(ctx: Context, session: Any, message: UnSubscribeRequest) -> dict[str, Any]:
    service = SubscriptionService(session, ctx.privacy, ctx.inbound.caller)
    return await service.unsubscribe(ctx.inbound.partner.sender_id, ctx.correlation_id, message)


async def _txn_status(ctx: Context, session: Any, message: TxnStatusRequest) -> dict[str, Any]:
    service = TxnStatusService(session, ctx.privacy, ctx.inbound.caller)
    return await service.status(ctx.inbound.partner.sender_id, ctx.correlation_id, message)


SEARCH = Operation(
    "search",
    "on-search",
    SEARCH_SCOPE,
    SearchRequest,
    lambda m: len(m.search_request),
    lambda m: [i.reference_id for i in m.search_request],
    _search,
    "search_response",
    failed_search,
    lambda m: sum(
        values_tested(i.search_criteria.query_type, i.search_criteria.query)
        for i in m.search_request
    ),
)
SUBSCRIBE = Operation(
    "subscribe",
    "on-subscribe",
    SUBSCRIBE_SCOPE,
    SubscribeRequest,
    lambda m: len(m.subscribe_request),
    lambda m: [i.reference_id for i in m.subscribe_request],
    _subscribe,
    "subscribe_response",
    failed_subscribe,
    lambda m: sum(
        values_tested(i.subscribe_criteria.filter_type, i.subscribe_criteria.filter)
        for i in m.subscribe_request
    ),
)
UNSUBSCRIBE = Operation(
    "unsubscribe",
    "on-unsubscribe",
    SUBSCRIBE_SCOPE,
    UnSubscribeRequest,
    lambda m: len(m.subscription_codes),
    lambda m: [],
    _unsubscribe,
    None,
    failed_unsubscribe,
)
TXN_STATUS = Operation(
    "txn-status",
    "txn-on-status",
    SEARCH_SCOPE,
    TxnStatusRequest,
    lambda m: 1,
    lambda m: [m.txnstatus_request.reference_id],
    _txn_status,
    None,
)


def _outcome(operation: Operation, reply: dict[str, Any]) -> tuple[str, int, int]:
    """Header status, total and completed counts of a reply."""
    if operation.items_key is None:
        status = reply.get("status", "succ")
        return status, 1, 1
    items = reply[operation.items_key]
    statuses = {i["status"] for i in items}
    return ("rjct" if statuses == {"rjct"} else "succ"), len(items), len(items)


async def _open(
    request: Request,
    dci: DciRuntime,
    session: Any,
    operation: Operation,
    caller: Any,
    *,
    asynchronous: bool,
) -> tuple[Context, Any, Any]:
    gateway = dci.gateway
    inbound = await gateway.receive(
        request, session, caller, action=operation.action, asynchronous=asynchronous
    )
    message = parse_message(operation.model, inbound.raw_message)
    gateway.check_count(
        inbound.header, operation.count(message), dci.settings.dci_max_requests_per_message
    )
    correlation_id = uuid.uuid4().hex
    txn = await TransactionRepository(session).open(
        {
            "sender_id": inbound.partner.sender_id,
            "message_id": inbound.header.message_id,
            "transaction_id": message.transaction_id,
            "correlation_id": correlation_id,
            "action": operation.action,
            "status": "pdng",
            "reference_ids": operation.references(message),
            "total_count": operation.count(message),
            "sender_uri": inbound.header.sender_uri if asynchronous else None,
            "jurisdiction": caller.jurisdiction,
        }
    )
    if txn is None:
        raise DciRefusal(
            "err.request.bad",
            "this message_id was already received",
            header_reason="rjct.message_id.duplicate",
        )
    # Charged once the message is known to be new; a refusal rolls the transaction back.
    await dci.charge(inbound.partner.sender_id, (operation.cost or operation.count)(message))
    return Context(inbound, get_privacy(request), dci, correlation_id), message, txn


def _finish(
    ctx: Context, txn: Any, operation: Operation, reply: dict[str, Any]
) -> tuple[str, int, int]:
    status, total, completed = _outcome(operation, reply)
    txn.status = status
    txn.completed_count = completed
    txn.reply_enc = seal_reply(ctx.privacy, reply, ctx.inbound.caller.has_scope(PII_READ_SCOPE))
    return status, total, completed


def _unstorable(exc: DBAPIError) -> DciRefusal:
    """A value the checks let through but the database refused (SQLSTATE class 22, data
    exception) is the sender's error, answered in the DCI envelope; anything else is ours."""
    if not str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
        raise exc
    log.warning("dci.unstorable_value", error=str(exc.orig))
    return DciRefusal("err.request.bad", "a value in the message cannot be stored")


async def handle_sync(request: Request, dci: DciRuntime, operation: Operation) -> JSONResponse:
    gateway = dci.gateway
    try:
        caller = gateway.authenticate(request, operation.scope)
    except HttpRefusal as refusal:
        return refusal.response()
    receiver: str | None = None
    try:
        async with session_scope(request.app.state.sessionmaker) as session:
            ctx, message, txn = await _open(
                request, dci, session, operation, caller, asynchronous=False
            )
            receiver = ctx.inbound.partner.sender_id
            reply = await operation.run(ctx, session, message)
            status, total, completed = _finish(ctx, txn, operation, reply)
    except DciRefusal as refusal:
        return gateway.sync_refusal(refusal, operation.reply_action, receiver)
    except DBAPIError as exc:
        return gateway.sync_refusal(_unstorable(exc), operation.reply_action, receiver)
    # Committed (audit rows included) before anything is sent.
    header = gateway.callback_header(
        operation.reply_action, receiver, status=status, total=total, completed=completed
    )
    return gateway.signed({"header": header, "message": reply})


async def handle_async(request: Request, dci: DciRuntime, operation: Operation) -> JSONResponse:
    gateway = dci.gateway
    try:
        caller = gateway.authenticate(request, operation.scope)
    except HttpRefusal as refusal:
        return refusal.response()
    try:
        async with session_scope(request.app.state.sessionmaker) as session:
            ctx, message, txn = await _open(
                request, dci, session, operation, caller, asynchronous=True
            )
            txn_id = txn.id
    except DciRefusal as refusal:
        return gateway.err(refusal)
    except DBAPIError as exc:
        return gateway.err(_unstorable(exc))
    dci.spawn(
        _complete_later(request.app.state.sessionmaker, ctx, operation, message, txn_id),
        f"dci-{operation.action}-{txn_id}",
    )
    return gateway.ack(ctx.correlation_id)


async def _complete_later(
    sessionmaker: Any, ctx: Context, operation: Operation, message: Any, txn_id: uuid.UUID
) -> None:
    """Process after the ACK, record the outcome, then deliver the signed callback."""
    gateway = ctx.runtime.gateway
    receiver = ctx.inbound.partner.sender_id
    reply: dict[str, Any] | None
    try:
        async with session_scope(sessionmaker) as session:
            reply = await operation.run(ctx, session, message)
            txn = await TransactionRepository(session).load(txn_id)
            status, total, completed = _finish(ctx, txn, operation, reply)
        header = gateway.callback_header(
            operation.reply_action, receiver, status=status, total=total, completed=completed
        )
    except Exception as exc:
        log.exception(
            "dci.async_request_failed",
            action=operation.action,
            transaction=str(txn_id),
            error=repr(exc),
        )
        # The spec's callbacks carry a message: each request rejected, none answered. It is
        # kept as the transaction's reply too, so txn/status tells the same.
        reply = operation.failed(message, ctx.correlation_id) if operation.failed else None
        async with session_scope(sessionmaker) as session:
            txn = await TransactionRepository(session).load(txn_id)
            txn.status = "rjct"
            if reply is not None:
                txn.reply_enc = seal_reply(ctx.privacy, reply, False)
        header = gateway.callback_header(
            operation.reply_action,
            receiver,
            status="rjct",
            total=operation.count(message),
            completed=0,
            reason_message=FAILED_REASON,
        )
    delivery = await ctx.runtime.callbacks.deliver(
        ctx.inbound.header.sender_uri or "", header, reply
    )
    async with session_scope(sessionmaker) as session:
        txn = await TransactionRepository(session).load(txn_id)
        txn.callback_status = "delivered" if delivery.delivered else "failed"
        txn.callback_attempts = delivery.attempts
        txn.callback_error = delivery.error


# --- DCI endpoints --------------------------------------------------------------------------------

_DCI_DOC = "Signed DCI envelope (signature, header, message); see the spec and docs/dci.md."
_ENVELOPE: dict[str, Any] = {"content": {"application/json": {}}}
# DCI answers in its own envelopes (the spec's), never problem+json.
_DCI_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "ERR acknowledgement: the envelope or message is refused", **_ENVELOPE},
    401: {
        "description": "HttpErrorResponse (no or a bad bearer token), or an ERR acknowledgement"
        " (a signature that does not verify)",
        **_ENVELOPE,
    },
    403: {"description": "HttpErrorResponse: the token lacks the DCI scope", **_ENVELOPE},
    413: {"description": "HttpErrorResponse: the body exceeds the size limit", **_ENVELOPE},
    422: {
        "description": "ERR acknowledgement (a synchronous call: its rejected reply): the body"
        " holds NUL characters or lone surrogates",
        **_ENVELOPE,
    },
    429: {"description": "ERR acknowledgement: too many requests (Retry-After)", **_ENVELOPE},
}
_DCI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["header", "message"],
                    "properties": {
                        "signature": {"type": "string", "maxLength": 4096},
                        "header": {"type": "object"},
                        "message": {"type": "object"},
                    },
                    "description": "the spec's request envelope of this endpoint",
                }
            }
        },
    }
}
_DCI_OPERATION: dict[str, Any] = {
    "description": _DCI_DOC,
    "responses": _DCI_ANSWERS,
    "openapi_extra": _DCI_BODY,
}


@router.post("/registry/sync/search", summary="Search the register (synchronous)", **_DCI_OPERATION)
async def sync_search(request: Request, dci: DciDep) -> JSONResponse:
    return await handle_sync(request, dci, SEARCH)


@router.post(
    "/registry/search",
    summary="Search the register (ACK, then on-search callback)",
    **_DCI_OPERATION,
)
async def search(request: Request, dci: DciDep) -> JSONResponse:
    return await handle_async(request, dci, SEARCH)


@router.post(
    "/registry/subscribe",
    summary="Subscribe to register events (ACK, then on-subscribe)",
    **_DCI_OPERATION,
)
async def subscribe(request: Request, dci: DciDep) -> JSONResponse:
    return await handle_async(request, dci, SUBSCRIBE)


@router.post(
    "/registry/unsubscribe",
    summary="Cancel subscriptions (ACK, then on-unsubscribe)",
    **_DCI_OPERATION,
)
async def unsubscribe(request: Request, dci: DciDep) -> JSONResponse:
    return await handle_async(request, dci, UNSUBSCRIBE)


@router.post(
    "/registry/txn/status",
    summary="Status of a transaction (ACK, then txn-on-status)",
    **_DCI_OPERATION,
)
async def txn_status(request: Request, dci: DciDep) -> JSONResponse:
    return await handle_async(request, dci, TXN_STATUS)


@router.post(
    "/registry/sync/txn/status",
    summary="Status of a transaction (synchronous)",
    **_DCI_OPERATION,
)
async def sync_txn_status(request: Request, dci: DciDep) -> JSONResponse:
    return await handle_sync(request, dci, TXN_STATUS)


@router.get("/.well-known/jwks.json", summary="The registry's public signing keys (JWKS)")
async def jwks(dci: DciDep) -> dict[str, Any]:
    return dci.signer.jwks()


# --- partner administration -----------------------------------------------------------------------

admin = APIRouter(prefix="/v1/dci/partners", tags=["dci"])


def _read(partner: Any, response: Response) -> PartnerRead:
    response.headers["ETag"] = etag(partner.version)
    return PartnerRead.model_validate(partner)


@admin.post(
    "",
    status_code=201,
    summary="Register a DCI partner",
    responses=problem_responses(401, 403, 409, 422),
)
async def register_partner(
    body: PartnerCreate, caller: AdminDep, session: SessionDep, response: Response
) -> PartnerRead:
    return _read(await PartnerService(session, caller).register(body), response)


@admin.get("", summary="List DCI partners", responses=problem_responses(401, 403))
async def list_partners(caller: AdminDep, session: SessionDep) -> list[PartnerRead]:
    return [PartnerRead.model_validate(p) for p in await PartnerRepository(session).list()]


@admin.get("/{sender_id}", summary="Read a DCI partner", responses=problem_responses(401, 403, 404))
async def read_partner(
    sender_id: SenderPath, caller: AdminDep, session: SessionDep, response: Response
) -> PartnerRead:
    return _read(await PartnerService(session, caller).get(sender_id), response)


@admin.put(
    "/{sender_id}",
    summary="Replace a DCI partner's settings (If-Match)",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_partner(
    sender_id: SenderPath,
    body: PartnerUpdate,
    caller: AdminDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PartnerRead:
    partner = await PartnerService(session, caller).update(
        sender_id, body, expected_version(if_match)
    )
    return _read(partner, response)


router.include_router(admin)
