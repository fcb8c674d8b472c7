"""Register rows as DCI records (Group = household, Member = person), minimised and masked.

Only the fields a partner asks for (``response_fields``) are built, so personal fields that
were not asked for are never decrypted. Personal fields are masked unless the caller holds
``pii:read``; every field shown in clear is noted so that the read can be audited. A member's
birth date is shown only in clear mode: next to a masked ID number it would give the ID away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fupin_kit.auth import Caller
from fupin_registry.dci.query import QueryError
from fupin_registry.households.models import Household, Member
from fupin_registry.privacy import PII_READ_SCOPE, Privacy

REG_TYPE = "ns:fupin:RegistryType:Social"

MEMBER_FIELDS = (
    "member_identifier",
    "demographic_info",
    "relationship_head",
    "is_disabled",
    "disability_info",
    "education_level",
    "school_status",
    "health_status",
    "labour_ability",
    "migrant_work_months",
    "group_identifier",
    "village_code",
    "poverty_status",
)
GROUP_FIELDS = (
    "group_identifier",
    "group_type",
    "household_number",
    "village_code",
    "poverty_status",
    "household_attribute",
    "support_type",
    "primary_cause",
    "secondary_causes",
    "identification_year",
    "registration_date",
    "exit_date",
    "group_size",
    "group_head_info",
    "member_list",
    "phone_number",
    "last_updated",
)
_NESTED_MEMBERS = ("group_head_info", "member_list")

Selection = dict[str, frozenset[str] | None]  # field -> member sub-fields (None: all)


def select_fields(entity: str, requested: list[str] | None) -> Selection:
    """``response_fields`` → the fields to build; ``member_list.member_identifier`` selects
    sub-fields of nested members. Unknown names are refused, not ignored."""
    allowed = GROUP_FIELDS if entity == "Group" else MEMBER_FIELDS
    if not requested:
        return {name: None for name in allowed}
    selection: dict[str, set[str] | None] = {}
    for name in requested:
        top, _, sub = name.partition(".")
        if top not in allowed or (sub and (top not in _NESTED_MEMBERS or sub not in MEMBER_FIELDS)):
            raise QueryError(f"unknown response field {name!r}")
        if not sub:
            selection[top] = None
        elif top not in selection or selection[top] is not None:
            selection.setdefault(top, set()).add(sub)  # type: ignore[union-attr]
    return {k: None if v is None else frozenset(v) for k, v in selection.items()}


def needs_members(selection: Selection) -> bool:
    return any(name in selection for name in (*_NESTED_MEMBERS, "group_size"))


@dataclass
class ClearRead:
    object_type: str
    object_id: str
    fields: set[str] = field(default_factory=set)


@dataclass
class RecordBuilder:
    privacy: Privacy
    caller: Caller
    clear_reads: dict[str, ClearRead] = field(default_factory=dict)

    @property
    def unmasked(self) -> bool:
        return self.caller.has_scope(PII_READ_SCOPE)

    def _personal(
        self, blob: bytes | None, kind: str, object_type: str, object_id: Any
    ) -> str | None:
        value = self.privacy.reveal(blob, kind, self.caller)
        if value is not None and self.unmasked:
            self._shown_in_clear(object_type, object_id, kind)
        return value

    def _shown_in_clear(self, object_type: str, object_id: Any, field: str) -> None:
        key = f"{object_type}:{object_id}"
        self.clear_reads.setdefault(key, ClearRead(object_type, str(object_id))).fields.add(field)

    def member(
        self, member: Member, household: Household | None, wanted: frozenset[str] | None
    ) -> dict[str, Any]:
        def want(name: str) -> bool:
            return wanted is None or name in wanted

        record: dict[str, Any] = {"@type": "Member", "@id": f"urn:fupin:member:{member.id}"}
        if want("member_identifier"):
            record["member_identifier"] = [
                {
                    "@type": "Identifier",
                    "identifier_type": "UIN",
                    "identifier_value": self._personal(
                        member.id_number_enc, "id_number", "member", member.id
                    ),
                }
            ]
        if want("demographic_info"):
            info: dict[str, Any] = {
                "@type": "SRPerson",
                "name": {
                    "@type": "Name",
                    "full_name": self._personal(member.name_enc, "name", "member", member.id),
                },
                "sex": member.sex,
                "ethnicity": member.ethnicity,
            }
            if self.unmasked:
                info["birth_date"] = member.birth_date.isoformat()
                self._shown_in_clear("member", member.id, "birth_date")
            record["demographic_info"] = info
        plain = {
            "relationship_head": member.relation,
            "is_disabled": member.disability is not None or member.health == "disabled",
            "disability_info": member.disability,
            "education_level": member.education,
            "school_status": member.school_status,
            "health_status": member.health,
            "labour_ability": member.labour_ability,
            "migrant_work_months": member.migrant_months,
        }
        record.update({k: v for k, v in plain.items() if want(k)})
        if household is not None:
            if want("group_identifier"):
                record["group_identifier"] = [_household_identifier(household)]
            if want("village_code"):
                record["village_code"] = household.village_code
            if want("poverty_status"):
                record["poverty_status"] = household.status
        return record

    def group(
        self, household: Household, members: list[Member] | None, selection: Selection
    ) -> dict[str, Any]:
        record: dict[str, Any] = {"@type": "Group", "@id": f"urn:fupin:household:{household.id}"}
        plain = {
            "group_identifier": lambda: [_household_identifier(household)],
            "group_type": lambda: "household",
            "household_number": lambda: household.household_number,
            "village_code": lambda: household.village_code,
            "poverty_status": lambda: household.status,
            "household_attribute": lambda: household.attribute,
            "support_type": lambda: household.support_type,
            "primary_cause": lambda: household.primary_cause,
            "secondary_causes": lambda: list(household.secondary_causes or []),
            "identification_year": lambda: household.year,
            "registration_date": lambda: _iso(household.registered_on),
            "exit_date": lambda: _iso(household.exited_on),
            "last_updated": lambda: _iso(household.updated_at),
            "group_size": lambda: len(members or []),
        }
        for name, value in plain.items():
            if name in selection:
                record[name] = value()
        if "phone_number" in selection:
            record["phone_number"] = self._personal(
                household.phone_enc, "phone", "household", household.id
            )
        if "group_head_info" in selection:
            head = next((m for m in members or [] if m.relation == "head"), None)
            record["group_head_info"] = (
                None if head is None else self.member(head, None, selection["group_head_info"])
            )
        if "member_list" in selection:
            record["member_list"] = [
                self.member(m, None, selection["member_list"]) for m in members or []
            ]
        return record


def _household_identifier(household: Household) -> dict[str, str]:
    return {
        "@type": "Identifier",
        "identifier_type": "HOUSEHOLD_ID",
        "identifier_value": str(household.id),
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
