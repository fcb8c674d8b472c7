"""Synthetic but valid register data: resident ID numbers, names, household payloads.

Used by the demo generator and the tests. ID numbers carry the county's region code, a real
birth date, a sequence whose parity encodes the sex, and the GB 11643 check character.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from fupin_events.values import id_check_character

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏"
    "薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易"
    "常武乔贺赖龚文"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰春梅建国海燕淑珍凤兰文志红国庆德胜"
    "宝山金凤玉珍长林"
)


def resident_id(county_code: str, born: date, sequence: int, sex: str) -> str:
    """A valid 18-character ID: region, birth date, 3-digit sequence (odd = male), check."""
    if len(county_code) != 6 or not county_code.isdigit():
        raise ValueError("the county code has 6 digits")
    order = (sequence % 500) * 2 + (1 if sex == "male" else 0)
    first17 = f"{county_code}{born:%Y%m%d}{order:03d}"
    return first17 + id_check_character(first17)


def person_name(rng: random.Random, surname: str | None = None) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return (surname or rng.choice(SURNAMES)) + given


def birth_date_between(rng: random.Random, first_year: int, last_year: int) -> date:
    start = date(first_year, 1, 1)
    span = (date(last_year, 12, 31) - start).days
    return start + timedelta(days=rng.randrange(span + 1))


def member_payload(
    id_number: str, name: str, relation: str = "head", **fields: Any
) -> dict[str, Any]:
    return {"id_number": id_number, "name": name, "relation": relation, **fields}


def household_payload(
    village_code: str,
    household_number: str,
    members: list[dict[str, Any]],
    **fields: Any,
) -> dict[str, Any]:
    """The body of ``POST /v1/households`` with sensible defaults."""
    body: dict[str, Any] = {
        "village_code": village_code,
        "household_number": household_number,
        "attribute": "ordinary_poor",
        "support_type": "development",
        "primary_cause": "illness",
        "secondary_causes": ["lack_of_skills"],
        "members": members,
    }
    body.update(fields)
    return body


class PeopleFactory:
    """Unique valid ID numbers for one county, deterministic for a seed."""

    def __init__(self, county_code: str, seed: int = 0) -> None:
        self.county_code = county_code
        self.rng = random.Random(seed)
        self.used: set[str] = set()

    def id_number(self, born: date | None = None, sex: str | None = None) -> str:
        while True:
            candidate = resident_id(
                self.county_code,
                born or birth_date_between(self.rng, 1950, 2000),
                self.rng.randrange(500),
                sex or self.rng.choice(("male", "female")),
            )
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
