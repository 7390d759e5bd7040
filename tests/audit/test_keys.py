"""The audit key comes from configuration, never from the database: production refuses
to start without one, development makes its own on first start."""

import stat

import pytest

from fieldsvc import create_app
from fieldsvc.config import ConfigurationError, parse_audit_keys

DATABASE = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
SECRET = "s" * 64


@pytest.fixture
def production(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDSVC_ENV", "production")
    monkeypatch.setenv("FIELDSVC_SECRET_KEY", "x" * 64)
    monkeypatch.delenv("FIELDSVC_AUDIT_KEYS", raising=False)
    monkeypatch.setenv("FIELDSVC_AUDIT_KEY_FILE", str(tmp_path / "audit-keys"))
    return tmp_path / "audit-keys"


def test_production_refuses_to_start_without_an_audit_key(production):
    with pytest.raises(ConfigurationError, match="FIELDSVC_AUDIT_KEYS must be set in production"):
        create_app(DATABASE)
    assert not production.exists()  # production never makes a key of its own


def test_production_starts_with_an_audit_key_from_the_environment_or_a_key_file(
    production, monkeypatch
):
    monkeypatch.setenv("FIELDSVC_AUDIT_KEYS", f"2026-2:{SECRET}, 2026-1:{'o' * 64}")
    assert create_app(DATABASE).config["AUDIT_KEYS"].startswith("2026-2:")

    monkeypatch.delenv("FIELDSVC_AUDIT_KEYS")
    production.write_text(f"vault-1:{SECRET}\n")
    assert create_app(DATABASE).config["AUDIT_KEYS"] == f"vault-1:{SECRET}"


def test_development_creates_a_private_key_file_on_first_start_and_keeps_it(monkeypatch, tmp_path):
    monkeypatch.delenv("FIELDSVC_ENV", raising=False)
    monkeypatch.delenv("FIELDSVC_AUDIT_KEYS", raising=False)
    key_file = tmp_path / "instance" / "audit-keys"
    monkeypatch.setenv("FIELDSVC_AUDIT_KEY_FILE", str(key_file))

    first = create_app(DATABASE).config["AUDIT_KEYS"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first
    [(key_id, secret)] = parse_audit_keys(first).items()
    assert key_id.startswith("dev-") and len(secret) == 64
    assert create_app(DATABASE).config["AUDIT_KEYS"] == first  # not replaced on restart
    assert [p.name for p in key_file.parent.iterdir()] == ["audit-keys"]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("no-colon-here", "keyid:secret pairs"),
        (f"bad id!:{SECRET}", "keyid:secret pairs"),
        ("short:tooshort", "at least 32 characters"),
        (f"k1:{SECRET},k1:{SECRET}", "names the key id 'k1' twice"),
        (" , ", "names no key"),
    ],
)
def test_malformed_audit_keys_refuse_to_start(monkeypatch, keys, message):
    monkeypatch.setenv("FIELDSVC_AUDIT_KEYS", keys)
    with pytest.raises(ConfigurationError, match=message):
        create_app(DATABASE)
