"""docker-compose.yml describes the same system as the local scripts.

The local setup (deploy/local/fupin.env, deploy/kafka/topics.tsv, deploy/kafka/pom.xml,
deploy/postgres/init-databases.sql and the service table in deploy/local/lib.sh) is the
reference; the compose file must agree with it: per service the same port, the same settings
variable names, the same database; the same Kafka version; kafka-init creating exactly the
topics of the table; PostgreSQL creating the five databases from the same SQL file.

`disagreements(root)` lists every difference; the tests below run it on the repository and on
mutated copies, so the check itself is shown to catch a disagreement.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

COMPOSE = "docker-compose.yml"
FUPIN_ENV = "deploy/local/fupin.env"
LIB_SH = "deploy/local/lib.sh"
TOPICS = "deploy/kafka/topics.tsv"
POM = "deploy/kafka/pom.xml"
INIT_SQL = "deploy/postgres/init-databases.sql"
LOCAL_POSTGRES = "deploy/local/postgres"
CREATE_TOPICS = "deploy/kafka/create-topics.sh"


@dataclass(frozen=True)
class Service:
    name: str
    directory: str
    package: str
    prefix: str


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int | None
    retention_ms: int | None


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not a KEY=value line: {line!r}"
        env[key] = value
    return env


def read_services(path: Path) -> list[Service]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'FUPIN_SERVICES_TABLE="\\\n(.*?)"', text, re.S)
    assert match, f"{path}: no FUPIN_SERVICES_TABLE"
    return [Service(*line.split()) for line in match.group(1).splitlines() if line.strip()]


def read_topics(path: Path) -> list[Topic]:
    topics = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, partitions, retention = line.split("\t")
        if name == "topic":
            continue
        topics.append(Topic(name, int(partitions), int(retention)))
    return topics


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command_of(service: dict, key: str = "command") -> list[str]:
    cmd = service.get(key) or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def host_ports(service: dict) -> set[tuple[str, str]]:
    """(host port, container port) pairs of the short port syntax."""
    pairs = set()
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        pairs.add((parts[-2], parts[-1]))
    return pairs


def mounts(service: dict, root: Path) -> dict[str, Path]:
    """container path -> host path of the bind mounts."""
    result = {}
    for entry in service.get("volumes") or []:
        parts = str(entry).split(":")
        if parts[0].startswith((".", "/")):
            result[parts[1]] = (root / parts[0]).resolve()
    return result


def to_host(value: str, binds: dict[str, Path]) -> str:
    for inside in sorted(binds, key=len, reverse=True):
        if value == inside or value.startswith(inside + "/"):
            return str(binds[inside]) + value[len(inside) :]
    return value


STUB = """#!/bin/sh
# records each call: one line per call, arguments separated by US (0x1f)
if [ "$1" = "--bootstrap-server" ] && [ "$3" = "--list" ]; then exit 0; fi
out=""
for a in "$@"; do out="$out$a$(printf '\\037')"; done
printf '%s\\n' "$out" >> "$STUB_LOG"
"""


def topics_created_by_kafka_init(compose: dict, root: Path, tmp: Path) -> list[list[str]]:
    """Runs kafka-init's entrypoint/command on the host with a recording kafka-topics.sh."""
    init = compose["services"]["kafka-init"]
    binds = mounts(init, root)
    argv = [to_host(a, binds) for a in command_of(init, "entrypoint") + command_of(init)]
    bin_dir = tmp / "kafka-bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "kafka-topics.sh"
    stub.write_text(STUB, encoding="utf-8")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    log = tmp / "calls.log"
    log.write_text("", encoding="utf-8")
    env = {k: to_host(v, binds) for k, v in env_of(init).items()}
    env.update(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"), KAFKA_BIN=str(bin_dir), STUB_LOG=str(log)
    )
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
    return [line.split("\x1f")[:-1] for line in log.read_text(encoding="utf-8").splitlines()]


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def disagreements(root: Path, tmp: Path) -> list[str]:
    problems: list[str] = []
    compose = yaml.safe_load((root / COMPOSE).read_text(encoding="utf-8"))
    services = compose.get("services") or {}
    env = read_env(root / FUPIN_ENV)
    table = read_services(root / LIB_SH)

    # --- the five services
    for svc in table:
        where = f"compose service {svc.name!r}"
        if svc.name not in services:
            problems.append(f"{where} is missing")
            continue
        spec = services[svc.name]
        local_names = {k for k in env if k.startswith(svc.prefix + "_")}
        compose_env = env_of(spec)
        compose_names = {k for k in compose_env if k.startswith(svc.prefix + "_")}
        if compose_names != local_names:
            problems.append(
                f"{where}: variables {sorted(compose_names)} differ from fupin.env's "
                f"{sorted(local_names)}"
            )
        port = env.get(f"{svc.prefix}_PORT")
        if (port, port) not in host_ports(spec):
            problems.append(f"{where}: ports {sorted(host_ports(spec))} lack {port}:{port}")
        if compose_env.get(f"{svc.prefix}_PORT", port) != port:
            problems.append(f"{where}: {svc.prefix}_PORT is not {port}")
        command = command_of(spec)
        joined = " ".join(command)
        if f"--port {port}" not in joined:
            problems.append(f"{where}: uvicorn does not listen on {port}: {joined}")
        if f"{svc.package}.main:app" not in joined:
            problems.append(f"{where}: does not run {svc.package}.main:app")
        if f"services/{svc.directory}/alembic.ini" not in joined:
            problems.append(f"{where}: does not migrate with services/{svc.directory}/alembic.ini")
        url_key = f"{svc.prefix}_DATABASE_URL"
        if url_key in env and url_key in compose_env:
            if database_of(env[url_key]) != database_of(compose_env[url_key]):
                problems.append(
                    f"{where}: database {database_of(compose_env[url_key])!r} is not "
                    f"{database_of(env[url_key])!r}"
                )
        args = (spec.get("build") or {}).get("args") or {}
        if args.get("SERVICE_DIR") != svc.directory or args.get("SERVICE_PACKAGE") != svc.package:
            problems.append(f"{where}: build args {args} do not name {svc.directory}/{svc.package}")

    # --- Kafka version
    pom = (root / POM).read_text(encoding="utf-8")
    version = re.search(r"<kafka\.version>(.+?)</kafka\.version>", pom)
    kafka_images = {
        name: spec.get("image", "")
        for name, spec in services.items()
        if str(spec.get("image", "")).startswith("apache/kafka")
    }
    if not kafka_images:
        problems.append("compose runs no apache/kafka image")
    for name, image in kafka_images.items():
        if not version or image != f"apache/kafka:{version.group(1)}":
            problems.append(f"compose service {name!r}: {image} is not the pom's Kafka version")

    # --- topics: kafka-init creates exactly the table
    wanted = {t.name: t for t in read_topics(root / TOPICS)}
    if "kafka-init" not in services:
        problems.append("compose has no kafka-init service")
    else:
        try:
            calls = topics_created_by_kafka_init(compose, root, tmp)
        except (subprocess.SubprocessError, OSError) as exc:
            problems.append(f"kafka-init's command failed on the host: {exc}")
            calls = []
        created: dict[str, Topic] = {}
        for call in calls:
            if "--create" not in call:
                continue
            if "--if-not-exists" not in call:
                problems.append(f"kafka-init creates without --if-not-exists: {call}")
            retention = next(
                (c.split("=", 1)[1] for c in call if c.startswith("retention.ms=")), None
            )
            name = option(call, "--topic") or "?"
            created[name] = Topic(name, as_int(option(call, "--partitions")), as_int(retention))
        if created != wanted:
            missing = sorted(set(wanted) - set(created))
            extra = sorted(set(created) - set(wanted))
            changed = sorted(n for n in set(wanted) & set(created) if wanted[n] != created[n])
            problems.append(
                f"kafka-init topics differ from {TOPICS}: missing {missing}, extra {extra}, "
                f"different partitions/retention {changed}"
            )

    # --- PostgreSQL: the five databases, from the one SQL file
    databases = {database_of(v) for k, v in env.items() if k.endswith("_DATABASE_URL")}
    sql = (root / INIT_SQL).read_text(encoding="utf-8")
    created_dbs = set(re.findall(r"CREATE DATABASE\s+(\w+)", sql, re.I))
    if created_dbs != databases:
        problems.append(
            f"{INIT_SQL} creates {sorted(created_dbs)}, fupin.env uses {sorted(databases)}"
        )
    roles = re.search(r"ARRAY\s*\[([^\]]*)\]", sql)
    role_names = set(re.findall(r"'(\w+)'", roles.group(1))) if roles else set()
    users = {
        re.sub(r".*://([^:@/]+).*", r"\1", v) for k, v in env.items() if k.endswith("_DATABASE_URL")
    }
    if not users <= role_names:
        problems.append(
            f"{INIT_SQL} creates roles {sorted(role_names)}, fupin.env uses {sorted(users)}"
        )
    postgres = services.get("postgres") or {}
    if not str(postgres.get("image", "")).startswith("postgres:15"):
        problems.append("compose postgres is not postgres:15")
    initdb = [
        host
        for inside, host in mounts(postgres, root).items()
        if inside.startswith("/docker-entrypoint-initdb.d/")
    ]
    if initdb != [(root / INIT_SQL).resolve()]:
        problems.append(f"compose postgres does not run {INIT_SQL} at init: {initdb}")
    if INIT_SQL not in (root / LOCAL_POSTGRES).read_text(encoding="utf-8"):
        problems.append(f"{LOCAL_POSTGRES} does not use {INIT_SQL}")
    return problems


def test_compose_agrees_with_local_setup(tmp_path: Path) -> None:
    assert disagreements(REPO, tmp_path) == []


def test_topic_table_is_complete() -> None:
    topics = read_topics(REPO / TOPICS)
    names = [t.name for t in topics]
    assert len(names) == len(set(names)) == 23
    for t in topics:
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.v\d+", t.name), t.name
        assert t.partitions >= 1
        assert t.retention_ms == -1 or t.retention_ms > 0


def _copy(root: Path, dest: Path) -> Path:
    for rel in (COMPOSE, FUPIN_ENV, LIB_SH, TOPICS, POM, INIT_SQL, LOCAL_POSTGRES, CREATE_TOPICS):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    return dest


MUTATIONS = {
    "port": (COMPOSE, '"8102:8102"', '"8112:8102"'),
    "uvicorn port": (COMPOSE, "--port 8103", "--port 8113"),
    "variable name": (COMPOSE, "EVALUATION_KAFKA_BOOTSTRAP:", "EVALUATION_KAFKA_SERVERS:"),
    "new local variable": (
        FUPIN_ENV,
        "SOCIAL_PORT=8105",
        "SOCIAL_PORT=8105\nSOCIAL_LOG_LEVEL=info",
    ),
    "database": (COMPOSE, "@postgres:5432/teams", "@postgres:5432/team"),
    "kafka version": (POM, "<kafka.version>", "<kafka.version>9."),
    "init skips topics": (
        CREATE_TOPICS,
        "'' | '#'* | topic)",
        "'' | '#'* | topic | *.deadletter.v1)",
    ),
    "init ignores partitions": (CREATE_TOPICS, '--partitions "$partitions"', "--partitions 1"),
    "init ignores retention": (
        CREATE_TOPICS,
        '--config "retention.ms=$retention"',
        '--config "cleanup.policy=delete"',
    ),
    "init reads another table": (
        COMPOSE,
        "TOPICS_TABLE: /fupin/kafka/topics.tsv",
        "TOPICS_TABLE: /fupin/kafka/pom.xml",
    ),
    "database missing from sql": (
        INIT_SQL,
        "SELECT 'CREATE DATABASE social OWNER social'",
        "SELECT 'SELECT 1'",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_disagreement_is_caught(mutation: str, tmp_path: Path) -> None:
    root = _copy(REPO, tmp_path / "copy")
    rel, old, new = MUTATIONS[mutation]
    text = (root / rel).read_text(encoding="utf-8")
    assert old in text, f"mutation {mutation!r} no longer applies to {rel}"
    (root / rel).write_text(text.replace(old, new, 1), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    assert disagreements(root, work), f"mutation {mutation!r} went unnoticed"
