"""Command-line tools: ``fupin-keys`` (dev key material), ``fupin-token`` (JWTs),
``fupin-audit`` (verify an audit chain)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from fupin_kit.audit import DEV_AUDIT_KEYS
from fupin_kit.auth import issue_token, new_signing_keys
from fupin_kit.crypto import new_key

PREFIXES = ("REGISTRY", "FUNDS", "TEAMS", "EVALUATION", "SOCIAL")
DEFAULT_KEY_DIR = Path(os.environ.get("FUPIN_HOME", str(Path.home() / ".fupin"))) / "keys"


def _write_keypair(directory: Path, name: str) -> None:
    private = directory / f"{name}-signing.pem"
    public = directory / f"{name}-public.pem"
    if private.exists():
        return
    private_pem, public_pem = new_signing_keys()
    private.write_text(private_pem, encoding="ascii")
    private.chmod(0o600)
    public.write_text(public_pem, encoding="ascii")


def init_keys(directory: Path) -> Path:
    """Create dev key material once: JWT and DCI signing key pairs, PII, blind-index and audit
    keys. A ``secrets.env`` written by an older version gains the audit keys it lacks (the dev
    key kept after the new one, so that rows it signed still verify)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _write_keypair(directory, "jwt")
    _write_keypair(directory, "dci")
    env_file = directory / "secrets.env"
    if not env_file.exists():
        blind = new_key()
        lines = [f"FUPIN_TOKEN_SIGNING_KEY_FILE={directory / 'jwt-signing.pem'}"]
        lines += [f"{p}_JWT_PUBLIC_KEY_FILE={directory / 'jwt-public.pem'}" for p in PREFIXES]
        lines += [
            f"REGISTRY_PII_KEYS=k1:{new_key()}",
            f"FUNDS_PII_KEYS=k1:{new_key()}",
            f"REGISTRY_BLIND_INDEX_KEY={blind}",
            f"FUNDS_BLIND_INDEX_KEY={blind}",
            f"REGISTRY_DCI_SIGNING_KEY_FILE={directory / 'dci-signing.pem'}",
        ]
        lines += [f"{p}_AUDIT_KEYS=k1:{new_key()}" for p in PREFIXES]
        env_file.write_text("\n".join(lines) + "\n", encoding="ascii")
        env_file.chmod(0o600)
        return env_file
    present = {line.partition("=")[0] for line in env_file.read_text(encoding="ascii").splitlines()}
    missing = [
        f"{p}_AUDIT_KEYS=k1:{new_key()},{DEV_AUDIT_KEYS}"
        for p in PREFIXES
        if f"{p}_AUDIT_KEYS" not in present
    ]
    if missing:
        with env_file.open("a", encoding="ascii") as out:
            out.write("\n".join(missing) + "\n")
    return env_file


def keys_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fupin-keys", description="Create dev key material.")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create keys once (idempotent)")
    init.add_argument("--dir", type=Path, default=DEFAULT_KEY_DIR)
    args = parser.parse_args(argv)
    env_file = init_keys(args.dir)
    print(env_file)
    return 0


def token_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fupin-token",
        description="Issue a signed JWT for an officer (dev) or a partner client.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue")
    issue.add_argument(
        "--sub", default=None, help="subject (defaults to the client id or 'dev-officer')"
    )
    issue.add_argument("--client-id", default=None, help="partner client id (bank, agency, donor)")
    issue.add_argument(
        "--role", action="append", default=[], help="repeatable, e.g. officer, county_officer"
    )
    issue.add_argument("--scope", action="append", default=[], help="repeatable, e.g. pii:read")
    issue.add_argument(
        "--jurisdiction", required=True, help="region code prefix, e.g. 22 or 220622"
    )
    issue.add_argument("--lifetime", type=int, default=3600, help="seconds")
    issue.add_argument("--name", default=None)
    issue.add_argument("--issuer", default="fupin-auth")
    issue.add_argument("--audience", default="fupin")
    issue.add_argument(
        "--key-file",
        type=Path,
        default=Path(
            os.environ.get("FUPIN_TOKEN_SIGNING_KEY_FILE", str(DEFAULT_KEY_DIR / "jwt-signing.pem"))
        ),
    )
    args = parser.parse_args(argv)
    if not args.key_file.exists():
        print(f"no signing key at {args.key_file}; run 'fupin-keys init' first", file=sys.stderr)
        return 2
    scopes = [s for item in args.scope for s in item.split()]
    token = issue_token(
        args.key_file.read_text(encoding="ascii"),
        subject=args.sub or args.client_id or "dev-officer",
        jurisdiction=args.jurisdiction,
        roles=args.role or ["officer"],
        scopes=scopes,
        client_id=args.client_id,
        lifetime_seconds=args.lifetime,
        issuer=args.issuer,
        audience=args.audience,
        name=args.name,
    )
    print(token)
    return 0


def audit_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fupin-audit", description="Verify a service's audit chain."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify")
    verify.add_argument("--database-url", required=True, help="postgresql+asyncpg://...")
    verify.add_argument(
        "--anchors",
        metavar="BOOTSTRAP",
        help="also check the chain against the anchors on <service>.audit.v1 at these brokers",
    )
    verify.add_argument("--service", help="the service whose anchors to read (with --anchors)")
    verify.add_argument("--topic", help="read the anchors from this topic instead")
    verify.add_argument(
        "--keys-from",
        metavar="VARIABLE",
        default="AUDIT_KEYS",
        help="environment variable holding the audit keys ('id:base64,...', as the service's"
        " <SERVICE>_AUDIT_KEYS; default AUDIT_KEYS, else the dev key)",
    )
    args = parser.parse_args(argv)
    if args.anchors and not args.service:
        parser.error("--anchors needs --service")
    from fupin_kit.audit import AuditKeys

    spec = os.environ.get(args.keys_from)
    if spec is None:
        print(f"{args.keys_from} is not set: verifying with the dev key", file=sys.stderr)
    try:
        keys = AuditKeys.parse(spec or DEV_AUDIT_KEYS)
    except ValueError as exc:
        parser.error(f"{args.keys_from}: {exc}")
    from sqlalchemy.ext.asyncio import create_async_engine

    from fupin_kit.anchors import check_anchors, read_anchors
    from fupin_kit.audit import verify_chain

    async def run() -> int:
        engine = create_async_engine(args.database_url)
        anchors = (
            await read_anchors(args.anchors, args.service, topic=args.topic) if args.anchors else []
        )
        try:
            async with engine.connect() as conn:
                report = await verify_chain(conn, keys)
                anchored = await check_anchors(conn, anchors)
        finally:
            await engine.dispose()
        problems = report.problems + anchored.problems
        for problem in problems:
            print(problem)
        against = (
            f" and {anchored.matched} anchors of this chain ({len(anchors)} read)"
            if args.anchors
            else ""
        )
        unsigned = (
            f", {report.unsigned} of them unsigned (before keying)" if report.unsigned else ""
        )
        print(
            f"checked {report.checked} rows{unsigned}{against}: {'TAMPERED' if problems else 'OK'}"
        )
        return 1 if problems else 0

    return asyncio.run(run())
