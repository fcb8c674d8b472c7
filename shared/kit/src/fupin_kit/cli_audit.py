"""``python -m fupin_kit.cli_audit verify --database-url ...`` (same as ``fupin-audit``)."""

from fupin_kit.cli import audit_main

if __name__ == "__main__":
    raise SystemExit(audit_main())
