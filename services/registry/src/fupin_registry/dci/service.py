"""DCI operations: search, subscribe, unsubscribe, transaction status, partner administration."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.auth import Caller
from fupin_kit.problems import Conflict, Forbidden, NotFound, PreconditionFailed, Unprocessable
from fupin_registry.access import Tier, require_admin
from fupin_registry.config import Settings
from fupin_registry.dci.models import DciTransaction, Partner
from fupin_registry.dci.protocol import now_iso
from fupin_registry.dci.query import (
    ATTRIBUTES,
    QueryError,
    conditions,
    map_values,
    parse_query,
    personal_attributes,
    to_json,
)
from fupin_registry.dci.records import REG_TYPE, RecordBuilder, needs_members, select_fields
from fupin_registry.dci.repository import (
    SORTABLE,
    PartnerRepository,
    RegisterSearch,
    SubscriptionRepository,
    TransactionRepository,
)
from fupin_registry.dci.schemas import (
    PartnerCreate,
    PartnerUpdate,
    SearchCriteria,
    SearchRequest,
    SearchRequestItem,
    SubscribeRequest,
    SubscribeRequestItem,
    TxnStatusRequest,
    UnSubscribeRequest,
)
from fupin_registry.dci.signing import load_public_key
from fupin_registry.households.models import Household
from fupin_registry.privacy import PII_READ_SCOPE, Privacy

# Subscribable register events (reg_event_type) → CloudEvent types on registry.household.v1.
EVENT_TYPES = {
    "REGISTER": "fupin.registry.household.registered.v1",
    "UPDATE": "fupin.registry.household.updated.v1",
    "STATUS_CHANGE": "fupin.registry.household.status_changed.v1",
}
MAX_PAGE_NUMBER = 10_000
# The spec's error code for a request that will not be answered, in the status item's message
# (its reason-code enums have no such code).
INCOMPLETE_REASON = "err.request.timeout: the request was not completed; send it again"
FAILED_REASON = (
    "err.service.unavailable: the request could not be processed; it has been logged; send it again"
)


def _sealed(privacy: Privacy, document: dict[str, Any]) -> bytes:
    return privacy.cipher.encrypt(json.dumps(document, ensure_ascii=False), "dci_reply")


def unseal(privacy: Privacy, blob: bytes) -> dict[str, Any]:
    return json.loads(privacy.cipher.decrypt(blob, "dci_reply"))  # type: ignore[no-any-return]


class SearchService:
    def __init__(
        self, session: AsyncSession, privacy: Privacy, settings: Settings, caller: Caller
    ) -> None:
        self.session = session
        self.privacy = privacy
        self.settings = settings
        self.caller = caller
        self.register = RegisterSearch(session, privacy.index.of)

    async def search(
        self, sender_id: str, correlation_id: str, message: SearchRequest
    ) -> dict[str, Any]:
        answers = [
            await self._one(sender_id, message.transaction_id, item)
            for item in message.search_request
        ]
        return {
            "transaction_id": message.transaction_id,
            "correlation_id": correlation_id,
            "search_response": answers,
        }

    async def _one(
        self, sender_id: str, transaction_id: str, item: SearchRequestItem
    ) -> dict[str, Any]:
        criteria = item.search_criteria
        try:
            plan = self._plan(criteria)
        except QueryError as exc:
            return _item(
                item.reference_id, "rjct", item.locale, reason=exc.reason_code, message=exc.message
            )
        entity, node, sort, page_size, page_number, selection, personal = plan
        region = self.caller.region_filter(Household.village_code)
        builder = RecordBuilder(self.privacy, self.caller)
        offset = (page_number - 1) * page_size
        if entity == "Group":
            total, households = await self.register.groups(node, region, sort, page_size, offset)
            members = (
                await self.register.members_of([h.id for h in households])
                if needs_members(selection)
                else {}
            )
            records = [builder.group(h, members.get(h.id), selection) for h in households]
        else:
            total, rows = await self.register.members(node, region, sort, page_size, offset)
            records = [builder.member(m, h, frozenset(selection)) for m, h in rows]
        await self._audit(
            sender_id, transaction_id, item, criteria, builder, len(records), total, personal
        )
        answer = _item(item.reference_id, "succ", item.locale)
        answer["data"] = {
            "version": "1.0.0",
            "reg_type": REG_TYPE,
            "reg_record_type": entity,
            "reg_records": records,
        }
        answer["pagination"] = {
            "page_size": page_size,
            "page_number": page_number,
            "total_count": total,
        }
        return answer

    def _plan(
        self, criteria: SearchCriteria
    ) -> tuple[str, Any, list[tuple[str, bool]], int, int, Any, list[str]]:
        if self.settings.dci_require_consent:
            _check_consent(criteria.consent)
        consent_ts = (criteria.consent or {}).get("ts")
        if consent_ts is not None:
            try:
                datetime.fromisoformat(str(consent_ts))
            except ValueError as exc:
                raise QueryError("consent.ts must be an ISO 8601 timestamp") from exc
        node = parse_query(criteria.query_type, criteria.query)
        clear = self.caller.has_scope(PII_READ_SCOPE)
        if not clear and personal_attributes(node):
            raise QueryError(
                f"filtering on {personal_attributes(node)} requires the pii:read scope"
            )
        entity = criteria.response_entity or (
            "Member" if criteria.reg_record_type == "Member" else "Group"
        )
        pagination = criteria.pagination
        page_size = pagination.page_size if pagination else None
        page_number = pagination.page_number if pagination else 1
        if page_size is None:
            page_size = self.settings.dci_default_page_size
        if not (
            _whole_number(page_size, self.settings.dci_max_page_size)
            and _whole_number(page_number, MAX_PAGE_NUMBER)
        ):
            raise QueryError(
                f"page_size is a whole number from 1 to {self.settings.dci_max_page_size}, "
                f"page_number from 1 to {MAX_PAGE_NUMBER}",
                "rjct.pagination.invalid",
            )
        sort = []
        for order in criteria.sort:
            if order.sort_order not in ("asc", "desc"):
                raise QueryError("sort_order is asc or desc", "rjct.sort.invalid")
            if order.attribute_name not in SORTABLE[entity]:
                raise QueryError(
                    f"sortable attributes: {sorted(SORTABLE[entity])}", "rjct.sort.invalid"
                )
            if not clear and personal_attributes(node, [order.attribute_name]):
                raise QueryError(
                    f"sorting on {order.attribute_name} requires the pii:read scope",
                    "rjct.sort.invalid",
                )
            sort.append((order.attribute_name, order.sort_order == "desc"))
        selection = select_fields(entity, criteria.response_fields)
        personal = personal_attributes(node, [name for name, _ in sort])
        return entity, node, sort, page_size, page_number, selection, personal

    async def _audit(
        self,
        sender_id: str,
        transaction_id: str,
        item: SearchRequestItem,
        criteria: SearchCriteria,
        builder: RecordBuilder,
        returned: int,
        total: int,
        personal: list[str],
    ) -> None:
        consent = criteria.consent or {}
        context = {
            "via": "dci",
            "sender_id": sender_id,
            "transaction_id": transaction_id,
            "reference_id": item.reference_id,
            "consent": {k: consent.get(k) for k in ("ts", "purpose") if k in consent},
            "authorize": {
                k: (criteria.authorize or {}).get(k)
                for k in ("ts", "purpose")
                if k in (criteria.authorize or {})
            },
        }
        records = [
            AuditRecord(
                self.caller.actor,
                "dci.search",
                "dci_transaction",
                transaction_id,
                {
                    **context,
                    "query_type": criteria.query_type,
                    "returned": returned,
                    "total": total,
                    "unmasked": builder.unmasked,
                },
            )
        ]
        records += [
            AuditRecord(
                self.caller.actor,
                "pii.read_unmasked",
                read.object_type,
                read.object_id,
                {**context, "fields": sorted(read.fields)},
            )
            for read in builder.clear_reads.values()
        ]
        if personal:
            # A filter or sort on the birth date reads it even when no record shows it.
            records.append(
                AuditRecord(
                    self.caller.actor,
                    "pii.read_unmasked",
                    "dci_transaction",
                    transaction_id,
                    {**context, "fields": personal, "used_in": "query", "matched": total},
                )
            )
        await AuditTrail(self.session).append_many(records)


def _check_consent(consent: dict[str, Any] | None) -> None:
    """The audit needs to say when consent was given and for what: ``ts`` and a ``purpose``
    with a ``code`` or ``text`` (the spec's Consent)."""
    consent = consent or {}
    purpose = consent.get("purpose")
    if (
        not isinstance(consent.get("ts"), str)
        or not isinstance(purpose, dict)
        or not any(isinstance(purpose.get(k), str) and purpose[k].strip() for k in ("code", "text"))
    ):
        raise QueryError(
            "a consent object with ts and a purpose (code or text) is required for every search"
        )


def _record_ids(reply: dict[str, Any]) -> list[str]:
    return [
        record["@id"]
        for item in reply.get("search_response", [])
        for record in (item.get("data") or {}).get("reg_records", [])
        if isinstance(record, dict) and "@id" in record
    ]


def _whole_number(value: Any, largest: int) -> bool:
    """An integer of JSON (not a boolean, a fraction or a numeric string) in 1..largest."""
    return type(value) is int and 1 <= value <= largest


def _item(
    reference_id: str,
    status: str,
    locale: str | None,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "reference_id": reference_id,
        "timestamp": now_iso(),
        "status": status,
    }
    if reason:
        answer["status_reason_code"] = reason
    if message:
        answer["status_reason_message"] = message[:999]
    if locale:
        answer["locale"] = locale
    return answer


class SubscriptionService:
    def __init__(self, session: AsyncSession, privacy: Privacy, caller: Caller) -> None:
        self.session = session
        self.privacy = privacy
        self.caller = caller
        self.subscriptions = SubscriptionRepository(session)

    async def subscribe(
        self, inbound_sender: str, sender_uri: str, correlation_id: str, message: SubscribeRequest
    ) -> dict[str, Any]:
        answers = [
            await self._one(inbound_sender, sender_uri, message.transaction_id, item)
            for item in message.subscribe_request
        ]
        return {
            "transaction_id": message.transaction_id,
            "correlation_id": correlation_id,
            "subscribe_response": answers,
        }

    async def _one(
        self, sender_id: str, sender_uri: str, transaction_id: str, item: SubscribeRequestItem
    ) -> dict[str, Any]:
        criteria = item.subscribe_criteria
        event_type = criteria.reg_event_type.rsplit(":", 1)[-1]
        if event_type not in EVENT_TYPES:
            return _item(
                item.reference_id,
                "rjct",
                item.locale,
                reason="rjct.notify_types.invalid",
                message=f"reg_event_type is one of {sorted(EVENT_TYPES)}",
            )
        if not criteria.notify_record_type.endswith("Group"):
            return _item(
                item.reference_id,
                "rjct",
                item.locale,
                reason="rjct.notify_types.invalid",
                message="notifications carry Group (household) records",
            )
        try:
            node = parse_query(criteria.filter_type, criteria.filter)
            unsupported = {
                c.attribute for c in conditions(node) if not ATTRIBUTES[c.attribute].in_events
            }
            if unsupported:
                raise QueryError(f"events cannot be filtered on {sorted(unsupported)}")
        except QueryError as exc:
            return _item(
                item.reference_id,
                "rjct",
                item.locale,
                reason="rjct.notify_details.invalid",
                message=exc.message,
            )
        # ID numbers are kept only as blind indexes: events carry their members' indexes.
        stored = to_json(map_values(node, "UIN", lambda v: self.privacy.index.hex(v)))
        code = uuid.uuid4().hex
        added = await self.subscriptions.add(
            {
                "code": code,
                "sender_id": sender_id,
                "transaction_id": transaction_id,
                "reference_id": item.reference_id,
                "reg_event_type": event_type,
                "filter": stored,
                # Identical = same filter under the same jurisdiction: a subscription is kept,
                # notified and cancelled within the jurisdiction of the token that made it.
                "filter_key": hashlib.sha256(
                    json.dumps([stored, self.caller.jurisdiction], sort_keys=True).encode()
                ).hexdigest(),
                "notify_record_type": criteria.notify_record_type,
                "sender_uri": sender_uri,
                "jurisdiction": self.caller.jurisdiction,
                "starts_at": criteria.frequency.start_time if criteria.frequency else None,
                "ends_at": criteria.frequency.end_time if criteria.frequency else None,
            }
        )
        if not added:
            return _item(
                item.reference_id,
                "rjct",
                item.locale,
                reason="rjct.event.already_subscribed",
                message="an identical subscription is active",
            )
        answer = _item(item.reference_id, "succ", item.locale)
        info: dict[str, Any] = {
            "version": "1.0.0",
            "code": code,
            "status": "subscribe",
            "timestamp": now_iso(),
            "reg_type": REG_TYPE,
            "reg_event_type": event_type,
            "filter_type": criteria.filter_type,
            "notify_record_type": criteria.notify_record_type,
        }
        if criteria.frequency:
            info["frequency"] = criteria.frequency.model_dump(mode="json")
        answer["subscriptions"] = [info]
        return answer

    async def unsubscribe(
        self, sender_id: str, correlation_id: str, message: UnSubscribeRequest
    ) -> dict[str, Any]:
        """All or nothing: one unknown or already cancelled code rejects the whole request."""
        codes = list(dict.fromkeys(message.subscription_codes))
        found = await self.subscriptions.of_sender(sender_id, self.caller.jurisdiction, codes)
        answer: dict[str, Any] = {
            "transaction_id": message.transaction_id,
            "correlation_id": correlation_id,
            "timestamp": now_iso(),
        }
        unknown = [c for c in codes if c not in found]
        cancelled = [c for c in codes if c in found and found[c].status != "subscribe"]
        if unknown or cancelled:
            answer.update(
                status="rjct",
                status_reason_code="rjct.subscription_code.invalid"
                if unknown
                else "rjct.event.already_unsubscribed",
                status_reason_message=f"unknown: {unknown}; already unsubscribed: {cancelled}"[
                    :999
                ],
            )
            return answer
        await self.subscriptions.cancel(codes)
        answer.update(
            status="succ", subscription_status=[{"code": c, "status": "unsubscribe"} for c in codes]
        )
        return answer


class TxnStatusService:
    def __init__(self, session: AsyncSession, privacy: Privacy, caller: Caller) -> None:
        self.session = session
        self.privacy = privacy
        self.caller = caller

    async def status(
        self, sender_id: str, correlation_id: str, message: TxnStatusRequest
    ) -> dict[str, Any]:
        query = message.txnstatus_request
        answer: dict[str, Any] = {
            "transaction_id": message.transaction_id,
            "correlation_id": correlation_id,
        }
        found = None
        if query.txn_type != "receipt":
            found = await TransactionRepository(self.session).find(
                sender_id,
                self.caller.jurisdiction,
                query.txn_type,
                query.attribute_type,
                query.attribute_value,
            )
        answer["txnstatus_response"] = {
            "txn_type": query.txn_type,
            "txn_status": await self._status_of(found, query.reference_id),
        }
        return answer

    async def _status_of(self, txn: DciTransaction | None, reference_id: str) -> dict[str, Any]:
        if txn is None:
            return {
                "transaction_id": "unknown",
                "correlation_id": "unknown",
                "search_response": [
                    _item(
                        reference_id,
                        "rjct",
                        None,
                        reason="rjct.reference_id.invalid",
                        message="no such transaction of this sender",
                    )
                ],
            }
        pending_items = [_item(r, txn.status, None) for r in txn.reference_ids]
        pending = {
            "transaction_id": txn.transaction_id,
            "correlation_id": txn.correlation_id,
            "search_response": pending_items,
        }
        if txn.reply_enc is None:
            if txn.status == "rjct":  # processing failed or was interrupted: a final answer
                for item in pending_items:
                    item["status_reason_message"] = INCOMPLETE_REASON
            return pending
        sealed = unseal(self.privacy, txn.reply_enc)
        reply = sealed["message"]
        if txn.action == "search":
            if sealed.get("unmasked"):
                if not self.caller.has_scope(PII_READ_SCOPE):
                    for item in pending_items:
                        item["status_reason_message"] = (
                            "the results hold personal data in clear; "
                            "pii:read is required to read them"
                        )
                    return pending
                await AuditTrail(self.session).append(
                    AuditRecord(
                        self.caller.actor,
                        "pii.read_unmasked",
                        "dci_transaction",
                        txn.transaction_id,
                        {
                            "via": "dci.txn_status",
                            "correlation_id": txn.correlation_id,
                            "records": _record_ids(reply),
                        },
                    )
                )
            return reply  # type: ignore[no-any-return]
        # Subscriptions: the per-request outcome in the search-shaped status the spec defines.
        items = []
        for entry in reply.get("subscribe_response", []):
            item = _item(entry["reference_id"], entry["status"], None)
            if entry.get("status_reason_code"):
                item["status_reason_message"] = (
                    f"{entry['status_reason_code']}: {entry.get('status_reason_message', '')}"
                )
            elif entry.get("status_reason_message"):
                item["status_reason_message"] = entry["status_reason_message"]
            codes = [s["code"] for s in entry.get("subscriptions", [])]
            if codes:
                item["status_reason_message"] = f"subscription codes: {', '.join(codes)}"
            items.append(item)
        return {
            "transaction_id": txn.transaction_id,
            "correlation_id": txn.correlation_id,
            "search_response": items,
        }


def _all_rejected(
    transaction_id: str,
    correlation_id: str,
    key: str,
    items: list[SearchRequestItem] | list[SubscribeRequestItem],
) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "correlation_id": correlation_id,
        key: [_item(i.reference_id, "rjct", i.locale, message=FAILED_REASON) for i in items],
    }


def failed_search(message: SearchRequest, correlation_id: str) -> dict[str, Any]:
    """The reply to a search that failed inside the registry: every request rejected."""
    return _all_rejected(
        message.transaction_id, correlation_id, "search_response", message.search_request
    )


def failed_subscribe(message: SubscribeRequest, correlation_id: str) -> dict[str, Any]:
    """The reply to a subscription that failed inside the registry: nothing subscribed."""
    return _all_rejected(
        message.transaction_id, correlation_id, "subscribe_response", message.subscribe_request
    )


def failed_unsubscribe(message: UnSubscribeRequest, correlation_id: str) -> dict[str, Any]:
    """The reply to an unsubscription that failed inside the registry: nothing cancelled."""
    return {
        "transaction_id": message.transaction_id,
        "correlation_id": correlation_id,
        "timestamp": now_iso(),
        "status": "rjct",
        "status_reason_message": FAILED_REASON,
    }


def seal_reply(privacy: Privacy, message: dict[str, Any], unmasked: bool) -> bytes:
    return _sealed(privacy, {"unmasked": unmasked, "message": message})


# --- partner administration ----------------------------------------------------------------------


def _checked_key(public_key: str | None, require_signature: bool) -> None:
    if public_key is not None:
        try:
            load_public_key(public_key)
        except ValueError as exc:
            raise Unprocessable("#/body/public_key", str(exc)) from exc
    elif require_signature:
        raise Unprocessable(
            "#/body/public_key", "a partner that must sign needs a registered public key"
        )


def require_partner_admin(caller: Caller) -> None:
    """A partner reads the register of the whole province (within its tokens' jurisdictions)
    and its keys, client and callback addresses decide who may speak for it: only a
    province-level admin registers or changes one, as for the province-wide exclusion rules."""
    require_admin(caller)
    if len(caller.jurisdiction) > Tier.PROVINCE:
        raise Forbidden("DCI partners serve the whole province: they need a province-level admin")


class PartnerService:
    def __init__(self, session: AsyncSession, caller: Caller) -> None:
        require_partner_admin(caller)
        self.session = session
        self.caller = caller
        self.partners = PartnerRepository(session)

    async def register(self, data: PartnerCreate) -> Partner:
        _checked_key(data.public_key, data.require_signature)
        if await self.partners.get(data.sender_id) is not None:
            raise Conflict(f"partner {data.sender_id!r} is already registered")
        if any(p.client_id == data.client_id for p in await self.partners.list()):
            raise Conflict(f"client {data.client_id!r} already speaks for another partner")
        partner = await self.partners.add(Partner(**data.model_dump()))
        await self._audit("dci.partner.registered", partner)
        return partner

    async def get(self, sender_id: str) -> Partner:
        partner = await self.partners.get(sender_id)
        if partner is None:
            raise NotFound(f"partner {sender_id!r} not found")
        return partner

    async def update(self, sender_id: str, data: PartnerUpdate, expected_version: int) -> Partner:
        _checked_key(data.public_key, data.require_signature)
        partner = await self.get(sender_id)
        if partner.version != expected_version:
            raise PreconditionFailed(f"partner {sender_id!r} is at version {partner.version}")
        if data.client_id != partner.client_id and any(
            p.client_id == data.client_id for p in await self.partners.list()
        ):
            raise Conflict(f"client {data.client_id!r} already speaks for another partner")
        for key, value in data.model_dump().items():
            setattr(partner, key, value)
        partner = await self.partners.save(partner)
        await self._audit("dci.partner.updated", partner)
        return partner

    async def _audit(self, action: str, partner: Partner) -> None:
        await AuditTrail(self.session).append(
            AuditRecord(
                self.caller.actor,
                action,
                "dci_partner",
                partner.sender_id,
                {
                    "client_id": partner.client_id,
                    "key_id": partner.key_id,
                    "require_signature": partner.require_signature,
                    "has_public_key": partner.public_key is not None,
                    "callback_url_prefix": partner.callback_url_prefix,
                    "active": partner.active,
                    "version": partner.version,
                },
            )
        )
