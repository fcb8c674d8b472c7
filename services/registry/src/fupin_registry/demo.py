"""Demo data: a realistic register for Jilin, written through the bulk path.

    python -m fupin_registry.demo --households 3000 [--seed 2014] [--database-url URL]

Villages are drawn across the province's rural counties from the real division table; every
household gets members with valid ID numbers of its county, plausible causes, attributes, sizes
and incomes, a status history (registered 2014-2016, some exited, a few returned, removed or
naturally decreased), history rows for ``as_of`` reads, and in the outbox the events the
register would have sent along that history: ``HouseholdRegistered`` as an applicant, then a
``HouseholdStatusChanged`` per status step (for at most ``--max-events`` households). Quotas
per county (and their city and province) and a rural population for every village and region
are filled in. A second run finds the demo data and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time as clock
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import asyncpg

from fupin_events.envelope import EventData
from fupin_events.registry import QuotaSet
from fupin_events.values import BUSINESS_TZ
from fupin_registry.config import Settings
from fupin_registry.households import events as household_events
from fupin_registry.households.bulk import (
    HouseholdRow,
    IncomeRow,
    MeasureRow,
    MemberRow,
    RegisterBatch,
    VersionRow,
    copy_batch,
    written_by,
)
from fupin_registry.households.snapshot import snapshot_of
from fupin_registry.privacy import Privacy
from fupin_registry.quotas.repository import copy_quotas
from fupin_registry.regions.directory import RegionDirectory, RegionEntry
from fupin_registry.regions.repository import load_divisions, set_rural_populations
from fupin_registry.synthetic import SURNAMES, birth_date_between, person_name, resident_id
from fupin_registry.vocabulary import MeasureType

DEMO_ACTOR = "system:demo"
HOUSEHOLDS_PER_VILLAGE = 25
CHUNK = 5_000  # households generated and copied at a time
ATTRIBUTES = {"ordinary_poor": 60, "dibao_poor": 20, "dibao": 12, "wubao": 8}
SUPPORT = {
    "ordinary_poor": "development",
    "dibao_poor": "both",
    "dibao": "guarantee",
    "wubao": "guarantee",
}
CAUSES = {
    "illness": 42,
    "lack_of_labour": 12,
    "lack_of_capital": 10,
    "lack_of_skills": 10,
    "disability": 8,
    "schooling": 5,
    "lack_of_drive": 4,
    "disaster": 3,
    "lack_of_land": 3,
    "poor_transport": 2,
    "lack_of_water": 1,
}
SIZES = {1: 15, 2: 30, 3: 22, 4: 18, 5: 10, 6: 5}
STATUSES = {"identified": 70, "exited": 22, "returned": 2, "removed": 3, "natural_decrease": 3}
REGISTRATION_YEARS = {2014: 60, 2015: 20, 2016: 20}
HEALTH = {"healthy": 65, "chronic_illness": 20, "serious_illness": 8, "disabled": 7}


def pick(rng: random.Random, weights: dict, k: int = 1) -> list:
    return rng.choices(list(weights), weights=list(weights.values()), k=k)


def one(rng: random.Random, weights: dict):  # type: ignore[no-untyped-def]
    return pick(rng, weights)[0]


def at_ten(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=BUSINESS_TZ)


def rural_counties(directory: RegionDirectory) -> dict[str, list[RegionEntry]]:
    """Villages (村委会, codes ending 200-399) of counties and county-level cities."""
    by_county: dict[str, list[RegionEntry]] = defaultdict(list)
    for village in directory.villages():
        kind = int(village.code[4:6])
        if int(village.code[9:]) >= 200 and (21 <= kind <= 69 or kind >= 81):
            by_county[village.code[:6]].append(village)
    return {county: sorted(vs, key=lambda v: v.code) for county, vs in sorted(by_county.items())}


def choose_villages(
    rng: random.Random, directory: RegionDirectory, households: int
) -> list[RegionEntry]:
    """About one village per 25 households, taken round-robin across the counties."""
    counties = rural_counties(directory)
    wanted = max(1, math.ceil(households / HOUSEHOLDS_PER_VILLAGE))
    pools = {county: rng.sample(vs, len(vs)) for county, vs in counties.items()}
    order = rng.sample(sorted(pools), len(pools))
    chosen: list[RegionEntry] = []
    while len(chosen) < wanted and any(pools.values()):
        for county in order:
            if pools[county] and len(chosen) < wanted:
                chosen.append(pools[county].pop())
    return chosen


@dataclass
class Generator:
    rng: random.Random
    privacy: Privacy
    poverty_lines: dict[int, Decimal]
    used_ids: set[str] = field(default_factory=set)
    events_left: int = 0  # households whose events (registered, status changes) are still to write
    batch: RegisterBatch = field(default_factory=RegisterBatch)  # rows waiting for their COPY
    registered_people: Counter = field(default_factory=Counter)  # (county, year) -> people
    poor_people: Counter = field(default_factory=Counter)  # village -> people identified/returned

    def id_number(self, county: str, born: date, sex: str) -> str:
        while True:
            candidate = resident_id(county, born, self.rng.randrange(500), sex)
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def members(
        self, household_id: uuid.UUID, county: str, size: int, year: int
    ) -> list[MemberRow]:
        rng = self.rng
        surname = rng.choice(SURNAMES)
        head_sex = "male" if rng.random() < 0.8 else "female"
        head_born = birth_date_between(rng, 1940, 1985)
        plan: list[tuple[str, str, date, str | None]] = [("head", head_sex, head_born, surname)]
        if size >= 2 and rng.random() < 0.85:
            spouse_year = head_born.year + rng.randint(-3, 5)
            plan.append(
                (
                    "spouse",
                    "female" if head_sex == "male" else "male",
                    birth_date_between(rng, spouse_year, spouse_year),
                    None,
                )
            )
        while len(plan) < size:
            relation = rng.choices(["child", "parent", "grandchild"], weights=[70, 15, 15])[0]
            first, last = {
                "child": (head_born.year + 20, head_born.year + 40),
                "parent": (max(1920, head_born.year - 40), head_born.year - 20),
                "grandchild": (head_born.year + 42, head_born.year + 60),
            }[relation]
            if first > year - 1:  # too young a family for this relation: a child instead
                relation, first, last = "child", head_born.year + 20, head_born.year + 30
            born = birth_date_between(rng, first, min(last, year - 1))
            plan.append(
                (
                    relation,
                    rng.choice(("male", "female")),
                    born,
                    None if relation == "parent" else surname,
                )
            )
        members = []
        for relation, sex, born, family in plan:
            id_number = self.id_number(county, born, sex)
            age = year - born.year
            health = one(rng, HEALTH)
            members.append(
                MemberRow(
                    id=uuid.uuid4(),
                    household_id=household_id,
                    id_index=self.privacy.index.of(id_number),
                    id_number_enc=self.privacy.cipher.encrypt(id_number, "id_number"),
                    name_enc=self.privacy.cipher.encrypt(person_name(rng, family), "name"),
                    sex=sex,
                    birth_date=born,
                    relation=relation,
                    ethnicity=rng.choices(
                        ["han", "korean", "manchu", "mongol"], weights=[88, 6, 5, 1]
                    )[0],
                    education=_education(rng, age),
                    school_status=_school(rng, age),
                    health=health,
                    disability="肢体残疾三级" if health == "disabled" else None,
                    labour_ability=_labour(rng, age, health),
                    migrant_months=rng.choice((0, 0, 0, 3, 6, 9)) if 18 <= age <= 55 else 0,
                    medical_insurance=rng.random() < 0.97,
                    pension_insurance=age >= 16 and rng.random() < 0.6,
                    active=True,
                    left_on=None,
                    left_reason=None,
                )
            )
        return members

    def incomes(
        self, household: HouseholdRow, size: int, first_year: int, exit_year: int | None
    ) -> list[IncomeRow]:
        """Per-capita net income below the line until exit, above it from the exit year."""
        rows = []
        for year in range(first_year, 2020):
            line = self.poverty_lines.get(year, Decimal(4000))
            above = exit_year is not None and year >= exit_year
            factor = Decimal(self.rng.uniform(1.08, 1.6) if above else self.rng.uniform(0.55, 0.95))
            net = (line * factor * size).quantize(Decimal(1))
            costs = (net * Decimal(self.rng.uniform(0.05, 0.2))).quantize(Decimal(1))
            gross = net + costs
            wages = (gross * Decimal(self.rng.uniform(0.2, 0.6))).quantize(Decimal(1))
            transfer = (gross * Decimal(self.rng.uniform(0.05, 0.3))).quantize(Decimal(1))
            production = gross - wages - transfer
            for source, amount in (
                ("wages", wages),
                ("production", production),
                ("transfer", transfer),
                ("production_costs", costs),
            ):
                rows.append(
                    IncomeRow(household_id=household.id, year=year, source=source, amount=amount)
                )
        return rows

    def household(self, village: RegionEntry, number: int) -> None:
        rng = self.rng
        county = village.code[:6]
        attribute = one(rng, ATTRIBUTES)
        primary = one(rng, CAUSES)
        secondary = sorted(
            {c for c in pick(rng, CAUSES, rng.choice((0, 1, 1, 2))) if c != primary}
        )[:2]
        year = one(rng, REGISTRATION_YEARS)
        registered_on = date(year, rng.randint(4, 10), rng.randint(1, 28))
        status = one(rng, STATUSES)
        size = 1 if attribute == "wubao" and rng.random() < 0.8 else one(rng, SIZES)
        household = HouseholdRow(
            id=uuid.uuid4(),
            village_code=village.code,
            household_number=f"D{number:05d}",
            attribute=attribute,
            support_type=SUPPORT[attribute],
            primary_cause=primary,
            secondary_causes=secondary,
            identification_standard="national",
            phone_enc=self.privacy.seal(f"13{rng.randrange(10**9):09d}", "phone")
            if rng.random() < 0.7
            else None,
            bank_account_enc=self.privacy.seal(f"6228{rng.randrange(10**15):015d}", "bank_account")
            if rng.random() < 0.8
            else None,
            housing_safety=rng.choices(["safe", "grade_c", "grade_d"], weights=[80, 12, 8])[0],
            drinking_water_safe=rng.random() < 0.9,
            status="applied",
            year=year,
            registered_on=None,
            exited_on=None,
            responsible_cadre_id=None,
            responsible_cadre_name=None,
            cadre_paired_on=None,
            version=1,
        )
        members = self.members(household.id, county, size, year)
        timeline = self.timeline(registered_on, status)
        exit_year = next((d.year for s, d in timeline if s == "exited"), None)
        if status == "returned":
            exit_year = None  # back below the line
        incomes = self.incomes(household, len(members), year, exit_year)
        measures = [
            MeasureRow(
                id=uuid.uuid4(),
                household_id=household.id,
                year=year,
                measure_type=kind.value,
                description=_measure_text(kind),
                responsible_cadre_id=None,
            )
            for kind in rng.sample(list(MeasureType)[:-1], rng.randint(1, 3))
        ]
        emit = self.events_left > 0
        self.events_left -= emit
        self.history(household, members, incomes, measures, registered_on, timeline, emit)
        if household.status in ("removed", "natural_decrease"):
            for member in members:
                member.active = False
        # quotas cover everyone registered in a year, whatever happened to them later
        self.registered_people[(county, year)] += len(members)
        if household.status in ("identified", "returned"):
            self.poor_people[village.code] += len(members)
        self.batch.households.append(household)
        self.batch.members += members
        self.batch.incomes += incomes
        self.batch.measures += measures

    def timeline(self, registered_on: date, status: str) -> list[tuple[str, date]]:
        steps = [("identified", registered_on)]
        if status in ("exited", "returned"):
            exited = date(
                self.rng.randint(max(2016, registered_on.year + 1), 2019),
                self.rng.randint(9, 12),
                15,
            )
            steps.append(("exited", exited))
            if status == "returned":
                steps.append(("returned", date(min(exited.year + 1, 2020), 3, 20)))
        elif status in ("removed", "natural_decrease"):
            steps.append((status, date(self.rng.randint(registered_on.year + 1, 2019), 6, 30)))
        return steps

    def history(
        self,
        household: HouseholdRow,
        members: list[MemberRow],
        incomes: list[IncomeRow],
        measures: list[MeasureRow],
        registered_on: date,
        timeline: list[tuple[str, date]],
        emit: bool,
    ) -> None:
        """Version 1 applied about a month before registration, then one version per status;
        with ``emit``, the events the register would have sent along the way (registered as
        an applicant, then each status change), so consumers see the same story as history."""
        moments = [(None, registered_on - timedelta(days=30))] + list(timeline)
        versions = []
        for number, (status, day) in enumerate(moments, start=1):
            household.version = number
            previous = household.status
            if status is not None:
                household.status = status
                if status == "identified":
                    household.registered_on = day
                elif status == "exited":
                    household.exited_on = day
            versions.append(
                VersionRow(
                    household_id=household.id,
                    version=number,
                    village_code=household.village_code,
                    status=household.status,
                    valid_from=at_ten(day),
                    valid_to=None,
                    effective_on=day,
                    actor=DEMO_ACTOR,
                    action="created" if status is None else "status_changed",
                    changed=[] if status is None else ["status"],
                    snapshot=snapshot_of(household, members, incomes, measures),
                )
            )
            if emit:
                event: EventData = (
                    household_events.registered(household, members)
                    if status is None
                    else household_events.status_changed(
                        household,
                        members,
                        from_status=previous,
                        reason=None,
                        effective_on=day,
                        case_id=None,
                    )
                )
                self.batch.events.append((event, str(household.id)))
        for earlier, later in zip(versions, versions[1:], strict=False):
            earlier.valid_to = later.valid_from
        self.batch.versions += versions


def _education(rng: random.Random, age: int) -> str:
    if age < 6:
        return "preschool"
    if age < 12:
        return "primary"
    if age < 16:
        return "junior_high"
    return rng.choices(
        ["illiterate", "primary", "junior_high", "senior_high", "vocational", "college"],
        weights=[8, 35, 40, 10, 5, 2],
    )[0]


def _school(rng: random.Random, age: int) -> str:
    if age < 6:
        return "preschool"
    if age < 12:
        return "primary"
    if age < 15:
        return "junior_high"
    if age < 18:
        return rng.choice(("senior_high", "vocational", "not_in_school"))
    return "college" if age < 22 and rng.random() < 0.15 else "not_in_school"


def _labour(rng: random.Random, age: int, health: str) -> str:
    if age < 16:
        return "not_of_age"
    if age > 70 or health == "serious_illness":
        return "none"
    if health in ("chronic_illness", "disabled") or age > 60:
        return "weak"
    return "skilled" if rng.random() < 0.15 else "ordinary"


def _measure_text(kind: MeasureType) -> str:
    return {
        "industry": "发展庭院经济，扶持养牛",
        "employment": "转移就业培训并推荐外出务工",
        "relocation": "易地扶贫搬迁安置",
        "education": "落实雨露计划助学补助",
        "health": "落实大病保险和医疗救助",
        "ecology": "生态护林员公益岗位",
        "housing": "危房改造补助",
        "microcredit": "扶贫小额信贷五万元",
        "guarantee": "纳入农村低保兜底",
        "infrastructure": "通屯道路硬化",
    }[kind.value]


def quotas(generator: Generator) -> dict[tuple[str, int], int]:
    """County quotas a little above what each county registered each year; cities and the
    province get the sum of their children, so the tree rule holds."""
    result: dict[tuple[str, int], int] = Counter()
    for (county, year), people in generator.registered_people.items():
        quota = math.ceil(people * 1.1)
        result[(county, year)] += quota
        result[(county[:4], year)] += quota
        result[(county[:2], year)] += quota
    return dict(result)


def rural_population(
    rng: random.Random, directory: RegionDirectory, poor: Counter
) -> dict[str, int]:
    """Every rural village gets a figure (poverty incidence plausibly 3-25 %); urban
    communities none; every other region the sum of its villages."""
    figures: dict[str, int] = {}
    for village in directory.villages():
        if int(village.code[9:]) < 200:
            continue
        people = rng.randint(500, 2000)
        if poor[village.code]:
            people = max(people, math.ceil(poor[village.code] / rng.uniform(0.03, 0.25)))
        figures[village.code] = people
    totals: Counter = Counter()
    for code, people in figures.items():
        for length in (2, 4, 6, 9):
            totals[code[:length]] += people
    figures.update(totals)
    return figures


def parent_of(region: str) -> str | None:
    return {2: None, 4: region[:2], 6: region[:4]}[len(region)]


async def generate(
    dsn: str, households: int, seed: int, max_events: int, settings: Settings
) -> dict[str, int]:
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        if await written_by(conn, DEMO_ACTOR):
            return {}
        directory = RegionDirectory([RegionEntry(*row) for row in await load_divisions(conn)])
        if not directory.villages():
            raise SystemExit("the regions table is empty: run the migrations first")
        generator = Generator(rng, Privacy(settings), dict(settings.poverty_lines))
        generator.events_left = max_events
        villages = choose_villages(rng, directory, households)
        counts: Counter[str] = Counter()
        async with conn.transaction():
            # generate and COPY chunk by chunk: memory stays bounded for large registers
            for start in range(0, households, CHUNK):
                generator.batch = RegisterBatch()
                for number in range(start, min(start + CHUNK, households)):
                    generator.household(
                        villages[number % len(villages)], number // len(villages) + 1
                    )
                counts.update(await copy_batch(conn, generator.batch))
            county_quotas = quotas(generator)
            quota_events = RegisterBatch(
                events=[
                    (QuotaSet(region_code=r, year=y, quota=q, parent_code=parent_of(r)), r)
                    for (r, y), q in sorted(county_quotas.items())
                ]
            )
            counts.update(await copy_batch(conn, quota_events))
            await copy_quotas(
                conn,
                [(r, y, q, parent_of(r), DEMO_ACTOR) for (r, y), q in county_quotas.items()],
            )
            figures = rural_population(rng, directory, generator.poor_people)
            await set_rural_populations(conn, figures)
        counts["quotas"] = len(county_quotas)
        counts["regions_with_rural_population"] = len(figures)
        counts["villages"] = len(villages)
        counts["counties"] = len({v.code[:6] for v in villages})
        return dict(counts)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fupin_registry.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--households", type=int, required=True, help="how many households (1-2,000,000)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=2014,
        help="random seed (same seed: same people, places and distributions)",
    )
    parser.add_argument(
        "--database-url", help="defaults to REGISTRY_DATABASE_URL / the service setting"
    )
    parser.add_argument(
        "--max-events",
        type=int,
        default=20_000,
        help="households whose events (registered, then each status change) are written to the"
        " outbox, at most (default 20000)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.households <= 2_000_000:
        parser.error("--households must lie between 1 and 2,000,000")
    settings = Settings(**({"database_url": args.database_url} if args.database_url else {}))
    started = clock.perf_counter()
    counts = asyncio.run(
        generate(settings.asyncpg_dsn, args.households, args.seed, args.max_events, settings)
    )
    if not counts:
        print("demo data is already present; nothing written")
        return 0
    elapsed = clock.perf_counter() - started
    summary = ", ".join(f"{name} {count}" for name, count in counts.items())
    print(f"demo register written in {elapsed:.1f}s: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
