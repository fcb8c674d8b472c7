"""Who may do what in the register: writer roles and tiered responsibility (分级负责).

A caller's jurisdiction is a region code prefix. Village-level work needs a jurisdiction that
covers the village; township-level work a township or higher jurisdiction (9 digits or fewer);
county-level work a county or higher jurisdiction (6 digits or fewer).
"""

from __future__ import annotations

from enum import IntEnum

from fupin_kit.auth import Caller
from fupin_kit.problems import Forbidden

WRITER_ROLES = ("officer", "admin")
ADMIN_ROLE = "admin"


class Tier(IntEnum):
    """The longest jurisdiction prefix that may act at this level."""

    VILLAGE = 12
    TOWNSHIP = 9
    COUNTY = 6
    CITY = 4
    PROVINCE = 2


def tier_allows(jurisdiction: str, village_code: str, tier: Tier) -> bool:
    return village_code.startswith(jurisdiction) and len(jurisdiction) <= tier


def require_tier(caller: Caller, village_code: str, tier: Tier) -> None:
    """Refuse (403) a caller who sees the village but works below the required level."""
    if not tier_allows(caller.jurisdiction, village_code, tier):
        raise Forbidden(f"this step needs a {tier.name.lower()}-level or higher jurisdiction")


def require_writer(caller: Caller) -> None:
    caller.require_role(*WRITER_ROLES)


def require_admin(caller: Caller) -> None:
    caller.require_role(ADMIN_ROLE)
