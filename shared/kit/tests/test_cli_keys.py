"""``fupin-keys init``: dev key material made once, and audit keys added to an older file."""

from fupin_kit.audit import DEV_AUDIT_KEYS, AuditKeys
from fupin_kit.cli import PREFIXES, init_keys
from fupin_kit.crypto import parse_keyring


def read_env(path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines() if line)
    return {name: value for name, _, value in pairs}


def test_a_fresh_directory_gets_every_key_once(tmp_path):
    env_file = init_keys(tmp_path / "keys")
    env = read_env(env_file)
    for prefix in PREFIXES:
        keys = AuditKeys.parse(env[f"{prefix}_AUDIT_KEYS"])
        assert list(keys.keys) == ["k1"]
    assert len({env[f"{p}_AUDIT_KEYS"] for p in PREFIXES}) == len(PREFIXES)
    assert parse_keyring(env["REGISTRY_PII_KEYS"]) != parse_keyring(env["FUNDS_PII_KEYS"])
    assert env["REGISTRY_BLIND_INDEX_KEY"] == env["FUNDS_BLIND_INDEX_KEY"]
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    before = env_file.read_text()
    init_keys(tmp_path / "keys")
    assert env_file.read_text() == before


def test_an_older_file_gains_audit_keys_that_still_verify_the_dev_key(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir()
    (directory / "secrets.env").write_text("REGISTRY_PII_KEYS=k1:abc\n")
    env = read_env(init_keys(directory))
    assert env["REGISTRY_PII_KEYS"] == "k1:abc"
    assert "FUNDS_PII_KEYS" not in env  # data already sealed with the funds dev key stays readable
    dev_id, dev_key = next(iter(AuditKeys.parse(DEV_AUDIT_KEYS).keys.items()))
    for prefix in PREFIXES:
        keys = AuditKeys.parse(env[f"{prefix}_AUDIT_KEYS"])
        assert keys.signing == "k1" and keys.keys[dev_id] == dev_key
