"""Template rows for tests and the import benchmark: plausible households, valid ID numbers.

Deterministic for a given seed, so a benchmark file can be generated once and cached.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from fupin_events.values import id_check_character
from fupin_registry.imports.columns import HEADERS

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰凤云海燕春梅鹏辉建国志红林"
CAUSES = (
    "因病",
    "因残",
    "因学",
    "因灾",
    "缺土地",
    "缺技术",
    "缺劳力",
    "缺资金",
    "交通条件落后",
    "自身发展动力不足",
)
ATTRIBUTES = ("一般贫困户",) * 6 + ("低保贫困户",) * 3 + ("五保户",)


def resident_id(area: str, year: int, month: int, day: int, sequence: int, sex: str) -> str:
    """A valid GB 11643 number; ``sequence`` (0–499) and ``sex`` pick the order code."""
    order = sequence * 2 + (1 if sex == "male" else 0)
    first17 = f"{area}{year:04d}{month:02d}{day:02d}{order % 1000:03d}"
    return first17 + id_check_character(first17)


class HouseholdMaker:
    """Households of 1–6 members in the given villages, one template row per member."""

    def __init__(self, villages: Sequence[str], seed: int = 7, year: int = 2015) -> None:
        self.random = random.Random(seed)
        self.villages = list(villages)
        self.year = year
        self.serial = (seed % 1000) * 20_000  # different seeds, different people

    def _person(self, area: str, born: int, sex: str) -> str:
        self.serial += 1
        # The serial spreads over birth day and order code so that every number is unique.
        day_index, sequence = divmod(self.serial, 500)
        month, day = 1 + day_index % 12, 1 + (day_index // 12) % 28
        return resident_id(area, born - (day_index // 336) % 40, month, day, sequence, sex)

    def households(self, count: int) -> Iterator[list[list[str]]]:
        r = self.random
        for number in range(1, count + 1):
            village = self.villages[number % len(self.villages)]
            area = village[:6]
            size = r.choice((1, 2, 2, 3, 3, 4, 4, 4, 5, 6))
            cause = r.choice(CAUSES)
            second = r.choice([c for c in CAUSES if c != cause])
            household = [
                village,
                f"{number:06d}",
                r.choice(ATTRIBUTES),
                "",
                cause,
                second,
                "国家标准",
                "已识别",
                str(self.year),
                "",
                "",
                f"139{r.randrange(10**8):08d}",
                f"62284800{r.randrange(10**11):011d}",
                "安全",
                "是",
                str(self.year - 1),
                f"{r.randrange(1000, 6000)}.00",
                f"{r.randrange(0, 3000)}.50",
                "0",
                f"{r.randrange(0, 2000)}.00",
                f"{r.randrange(0, 800)}.00",
                "",
            ]
            rows = []
            for position in range(size):
                relation = ("户主", "配偶", "子女", "子女", "父母", "孙子女")[position]
                born = {"户主": 1965, "配偶": 1967, "子女": 1992, "父母": 1940, "孙子女": 2012}[
                    relation
                ]
                sex = "male" if position in (0, 2) else "female"
                name = (
                    r.choice(SURNAMES)
                    + r.choice(GIVEN)
                    + (r.choice(GIVEN) if r.random() < 0.6 else "")
                )
                member = [
                    name,
                    self._person(area, born, sex),
                    "",
                    "",
                    relation,
                    "汉族",
                    "初中" if born < 2005 else "学龄前",
                    "非在校生",
                    "健康",
                    "",
                    "普通劳动力",
                    str(r.randrange(0, 13)),
                    "是",
                    "否",
                ]
                rows.append(household + member)
            yield rows


def header() -> list[str]:
    return list(HEADERS)
