"""Events produced by the social platform (社会扶贫信息平台)."""

from __future__ import annotations

from datetime import date

from fupin_events.envelope import EventData
from fupin_events.values import Money, RegionPrefix


class DonationPledged(EventData):
    pledge_id: str
    listing_id: str
    donor_id: str
    amount: Money
    region_code: RegionPrefix


class DonationReceived(EventData):
    pledge_id: str
    listing_id: str
    amount: Money
    received_on: date
    region_code: RegionPrefix


class DonationAllocated(EventData):
    listing_id: str
    project_id: str | None
    amount: Money
    region_code: RegionPrefix
