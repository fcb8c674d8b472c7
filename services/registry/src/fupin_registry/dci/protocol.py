"""The DCI message layer: checks on every received envelope and the envelopes we answer with.

Received: bearer token and scope (401/403, the spec's HttpErrorResponse), then the envelope
(header fields, version, action, receiver, encryption), the sender (a registered, active
partner bound to the token's client id), the signature where the partner's policy requires it
(or whenever one is sent), and for asynchronous calls the callback address (it must lie under
the partner's registered prefix, so callbacks cannot be aimed anywhere else).

Answered: ACK/ERR acknowledgements (``Response``), callback headers (``MsgCallbackHeader``), each
signed by the registry.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.auth import Caller, get_caller
from fupin_kit.problems import ProblemError
from fupin_registry.config import Settings
from fupin_registry.dci.models import Partner
from fupin_registry.dci.repository import PartnerRepository
from fupin_registry.dci.schemas import MsgHeader
from fupin_registry.dci.signing import (
    RegistrySigner,
    SignatureProblem,
    load_public_key,
    verify_signature,
)

PROTOCOL_VERSION = "1.0.0"
DCI_PATH_PREFIX = "/registry/"
# The synchronous endpoints and the action of their answers; the others acknowledge.
SYNC_REPLY_ACTIONS = {
    "/registry/sync/search": "on-search",
    "/registry/sync/txn/status": "txn-on-status",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class HttpRefusal(Exception):
    """Transport-level refusal (bearer token, scope): the spec's HttpErrorResponse."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="fupin"'} if self.status == 401 else None
        return JSONResponse(
            {"errors": [{"code": self.code, "message": self.message}]}, self.status, headers=headers
        )


class DciRefusal(Exception):
    """Message-level refusal. ``code`` is the spec's Error code (ERR acknowledgement);
    ``header_reason`` the MsgHeaderStatusReasonCode a synchronous answer carries, if any."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int = 400,
        header_reason: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message[:999]
        self.http_status = http_status
        self.header_reason = header_reason
        self.retry_after = retry_after  # seconds, sent as Retry-After

    @property
    def headers(self) -> dict[str, str] | None:
        return None if self.retry_after is None else {"Retry-After": str(self.retry_after)}


@dataclass
class Inbound:
    caller: Caller
    partner: Partner
    header: MsgHeader
    raw_header: dict[str, Any]
    raw_message: dict[str, Any]


def validation_message(error: ValidationError, root: str) -> str:
    first = error.errors()[0]
    where = "/".join(str(p) for p in (root, *first.get("loc", ())))
    return f"{where}: {first.get('msg', 'invalid')}"


def parse_message(
    model: type[BaseModel], raw: dict[str, Any], header_reason: str | None = None
) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise DciRefusal(
            "err.request.bad", validation_message(exc, "message"), header_reason=header_reason
        ) from exc


MAX_BODY_DEPTH = 32  # a DCI message nests about 20 levels at most (6 levels of $and/$or)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_body(raw: bytes) -> Any:
    """The request body as JSON, refused (``err.request.bad``) when it is not plain JSON that
    the register can store: NaN/Infinity, nesting deeper than any message, NUL characters and
    lone surrogates (PostgreSQL text and JSON cannot hold them)."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise DciRefusal("err.request.bad", "the body nests too deeply") from exc
    except ValueError as exc:
        raise DciRefusal("err.request.bad", f"the body is not a JSON document: {exc}") from exc
    # Iterative, so no later recursive walk (validation, signing digest) meets a deep body.
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise DciRefusal("err.request.bad", f"the body nests deeper than {MAX_BODY_DEPTH}")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(key)
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str):
            _check_text(node)
    return body


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise DciRefusal("err.request.bad", "NUL characters are not allowed in strings")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DciRefusal("err.request.bad", "strings must be valid Unicode text") from exc


# Percent-encoded dot, slash and backslash: a server may decode them into another path.
_ENCODED_PATH_TRICKS = ("%2e", "%2f", "%5c")


def callback_allowed(prefix: str | None, uri: str) -> bool:
    """Does ``uri`` lie under the registered callback ``prefix``? Both are parsed as the
    callback client parses them: same scheme, host and port, no user information, and the
    prefix's path matching whole segments of the URI's path (``/dci`` covers ``/dci/cb``, not
    ``/dci-other``)."""
    if not prefix:
        return False
    try:
        wanted, given = httpx.URL(prefix), httpx.URL(uri)
    except (httpx.InvalidURL, ValueError, TypeError):
        return False
    if any(ord(c) <= 0x20 or c == "\\" for c in uri):
        return False
    if given.userinfo or wanted.userinfo or given.scheme not in ("http", "https"):
        return False
    if (given.scheme, given.host, given.port) != (wanted.scheme, wanted.host, wanted.port):
        return False
    raw_path = given.raw_path.split(b"?", 1)[0].decode("ascii", "replace")
    if any(trick in raw_path.lower() for trick in _ENCODED_PATH_TRICKS):
        return False
    segments = raw_path.split("/")
    if any(part in (".", "..") for part in segments):
        return False
    expected = wanted.raw_path.split(b"?", 1)[0].decode("ascii", "replace").rstrip("/").split("/")
    return segments[: len(expected)] == expected


class Gateway:
    def __init__(self, settings: Settings, signer: RegistrySigner) -> None:
        self.settings = settings
        self.signer = signer

    # --- receiving -----------------------------------------------------------------------------

    def authenticate(self, request: Request, scope: str) -> Caller:
        try:
            caller = get_caller(request)
        except ProblemError as exc:
            raise HttpRefusal(
                401, "err.request.unauthorized", exc.detail or "authentication required"
            ) from exc
        if not caller.has_scope(scope):
            raise HttpRefusal(403, "err.request.forbidden", f"the '{scope}' scope is required")
        return caller

    async def receive(
        self,
        request: Request,
        session: AsyncSession,
        caller: Caller,
        *,
        action: str,
        asynchronous: bool,
    ) -> Inbound:
        body = parse_body(await request.body())
        if not isinstance(body, dict):
            raise DciRefusal(
                "err.request.bad", "the body is an object with header, message and signature"
            )
        raw_header, raw_message, signature = (
            body.get("header"),
            body.get("message"),
            body.get("signature"),
        )
        if not isinstance(raw_header, dict) or not isinstance(raw_message, dict):
            raise DciRefusal("err.request.bad", "header and message are required objects")
        if signature is not None and (not isinstance(signature, str) or len(signature) > 4096):
            raise DciRefusal("err.signature.invalid", "the signature is a string", http_status=401)
        try:
            header = MsgHeader.model_validate(raw_header)
        except ValidationError as exc:
            # The spec's header reason codes name a bad timestamp and a bad version.
            fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
            reason = (
                "rjct.message_ts.invalid"
                if "message_ts" in fields
                else "rjct.version.invalid"
                if "version" in fields
                else None
            )
            raise DciRefusal(
                "err.request.bad", validation_message(exc, "header"), header_reason=reason
            ) from exc
        self._check_header(header, action)
        partner = await PartnerRepository(session).get(header.sender_id)
        if partner is None or not partner.active:
            raise DciRefusal(
                "err.sender_id.invalid", f"sender {header.sender_id!r} is not a registered partner"
            )
        if partner.client_id != caller.client_id:
            raise DciRefusal(
                "err.sender_id.invalid", "the bearer token does not belong to this sender"
            )
        if partner.require_signature or signature is not None:
            self._check_signature(partner, signature, raw_header, raw_message)
        if asynchronous:
            self._check_callback(partner, header)
        return Inbound(caller, partner, header, raw_header, raw_message)

    def _check_header(self, header: MsgHeader, action: str) -> None:
        if header.version != PROTOCOL_VERSION:
            raise DciRefusal(
                "err.version.not_supported",
                f"only version {PROTOCOL_VERSION}",
                header_reason="rjct.version.invalid",
            )
        if header.action != action:
            raise DciRefusal(
                "err.request.bad",
                f"this endpoint takes action {action!r}",
                header_reason="rjct.action.invalid",
            )
        if header.receiver_id is not None and header.receiver_id != self.settings.dci_sender_id:
            raise DciRefusal(
                "err.receiver_id.invalid", f"this registry is {self.settings.dci_sender_id!r}"
            )
        if header.is_msg_encrypted:
            raise DciRefusal(
                "err.encryption.invalid", "encrypted messages are not supported; use TLS"
            )
        skew = timedelta(seconds=self.settings.dci_clock_skew_seconds)
        if header.message_ts > datetime.now(UTC) + skew:
            raise DciRefusal(
                "err.request.bad",
                "message_ts lies in the future",
                header_reason="rjct.message_ts.invalid",
            )

    def _check_signature(
        self, partner: Partner, signature: str | None, header: Any, message: Any
    ) -> None:
        if partner.public_key is None:
            raise DciRefusal(
                "err.signature.invalid",
                "no public key is registered for this sender",
                http_status=401,
            )
        try:
            verify_signature(
                signature,
                header,
                message,
                public_key=load_public_key(partner.public_key),
                sender_id=partner.sender_id,
                key_id=partner.key_id,
                max_age_seconds=self.settings.dci_signature_max_age_seconds,
                skew_seconds=self.settings.dci_clock_skew_seconds,
            )
        except SignatureProblem as exc:
            raise DciRefusal(exc.code, exc.message, http_status=401) from exc

    def _check_callback(self, partner: Partner, header: MsgHeader) -> None:
        uri = header.sender_uri
        if not uri:
            raise DciRefusal(
                "err.sender_uri.invalid", "asynchronous requests need header.sender_uri"
            )
        if not callback_allowed(partner.callback_url_prefix, uri):
            raise DciRefusal(
                "err.sender_uri.invalid",
                "sender_uri is not under the partner's registered callback prefix",
            )

    @staticmethod
    def check_count(header: MsgHeader, items: int, limit: int) -> None:
        if items > limit:
            raise DciRefusal(
                "err.request.bad",
                f"at most {limit} requests per message",
                header_reason="rjct.total_count.limit_exceeded",
            )
        if header.total_count != items:
            raise DciRefusal(
                "err.request.bad",
                f"header.total_count is {header.total_count} but the message has {items}",
                header_reason="rjct.total_count.invalid",
            )

    # --- answering -----------------------------------------------------------------------------

    def signed(
        self, document: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        document = {
            "signature": self.signer.sign(document.get("header"), document.get("message")),
            **document,
        }
        return JSONResponse(document, status, headers=headers)

    def ack(self, correlation_id: str) -> JSONResponse:
        message = {"ack_status": "ACK", "timestamp": now_iso(), "correlation_id": correlation_id}
        return self.signed({"message": message}, 202)

    def err(self, refusal: DciRefusal) -> JSONResponse:
        message = {
            "ack_status": "ERR",
            "timestamp": now_iso(),
            "correlation_id": uuid.uuid4().hex,
            "error": {"code": refusal.code, "message": refusal.message},
        }
        return self.signed({"message": message}, refusal.http_status, refusal.headers)

    def callback_header(
        self,
        action: str,
        receiver_id: str | None,
        *,
        status: str,
        total: int,
        completed: int,
        reason: str | None = None,
        reason_message: str | None = None,
    ) -> dict[str, Any]:
        header: dict[str, Any] = {
            "version": PROTOCOL_VERSION,
            "message_id": uuid.uuid4().hex,
            "message_ts": now_iso(),
            "action": action,
            "status": status,
            "total_count": total,
            "completed_count": completed,
            "sender_id": self.settings.dci_sender_id,
            "is_msg_encrypted": False,
        }
        if receiver_id:
            header["receiver_id"] = receiver_id
        if reason:
            header["status_reason_code"] = reason
        if reason_message:
            header["status_reason_message"] = reason_message[:999]
        return header

    def guard_answer(self, scope: Any, problem: ProblemError) -> JSONResponse:
        """The body guard's refusals (oversized body, NUL characters) on the DCI paths, in the
        DCI envelope the endpoint answers with rather than problem+json."""
        refusal = DciRefusal(
            "err.request.bad", problem.detail or problem.title, http_status=problem.status
        )
        action = SYNC_REPLY_ACTIONS.get(scope.get("path", "").rstrip("/"))
        if action is not None:
            return self.sync_refusal(refusal, action, None)
        return self.err(refusal)

    def sync_refusal(
        self, refusal: DciRefusal, action: str, receiver_id: str | None
    ) -> JSONResponse:
        """A synchronous endpoint's refusal: the callback envelope with status rjct, or the ERR
        acknowledgement for signature failures (401)."""
        if refusal.http_status == 401:
            return self.err(refusal)
        header = self.callback_header(
            action,
            receiver_id,
            status="rjct",
            total=0,
            completed=0,
            reason=refusal.header_reason,
            reason_message=f"{refusal.code}: {refusal.message}",
        )
        return self.signed({"header": header}, refusal.http_status, refusal.headers)
