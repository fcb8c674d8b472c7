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
        self, code: str, message: str, *, http_status: int = 400, header_reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message[:999]
        self.http_status = http_status
        self.header_reason = header_reason


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
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise DciRefusal("err.request.bad", "the body is not a JSON document") from exc
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
            raise DciRefusal("err.request.bad", validation_message(exc, "header")) from exc
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
        if not partner.callback_url_prefix or not uri.startswith(partner.callback_url_prefix):
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

    def signed(self, document: dict[str, Any], status: int = 200) -> JSONResponse:
        document = {
            "signature": self.signer.sign(document.get("header"), document.get("message")),
            **document,
        }
        return JSONResponse(document, status)

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
        return self.signed({"message": message}, refusal.http_status)

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
        return self.signed({"header": header}, refusal.http_status)
