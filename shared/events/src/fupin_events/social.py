"""Events produced by the social platform (社会扶贫信息平台)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from fupin_events.envelope import EventData
from fupin_events.values import PositiveMoney, RegionPrefix


class DonationPledged(EventData):
    pledge_id: str = Field(min_length=1, max_length=64)
    listing_id: str = Field(min_length=1, max_length=64)
    donor_id: str = Field(min_length=1, max_length=64)
    amount: PositiveMoney
    region_code: RegionPrefix


class DonationReceived(EventData):
    pledge_id: str = Field(min_length=1, max_length=64)
    listing_id: str = Field(min_length=1, max_length=64)
    amount: PositiveMoney
    received_on: date
    region_code: RegionPrefix


class DonationAllocated(EventData):
    listing_id: str = Field(min_length=1, max_length=64)
    project_id: str | None = Field(min_length=1, max_length=64)
    amount: PositiveMoney
    region_code: RegionPrefix
