import pytest

from fieldsvc import create_app
from fieldsvc.config import ConfigurationError
from fieldsvc.money import to_money


def test_production_refuses_to_start_with_the_default_secret_key(monkeypatch):
    monkeypatch.setenv("FIELDSVC_ENV", "production")
    monkeypatch.delenv("FIELDSVC_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="FIELDSVC_SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_with_a_secret_key_uses_secure_cookies(monkeypatch):
    monkeypatch.setenv("FIELDSVC_ENV", "production")
    monkeypatch.setenv("FIELDSVC_SECRET_KEY", "x" * 64)
    monkeypatch.setenv("FIELDSVC_AUDIT_KEYS", "prod-1:" + "y" * 64)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_settings_come_from_fieldsvc_environment_variables(monkeypatch):
    monkeypatch.setenv("FIELDSVC_DATABASE_URL", "sqlite:////tmp/elsewhere.sqlite3")
    monkeypatch.setenv("FIELDSVC_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FIELDSVC_CURRENCY", "EUR")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/elsewhere.sqlite3"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert app.config["CURRENCY"] == "EUR"


def test_money_rounds_half_up_to_cents():
    assert str(to_money("1.005")) == "1.01"
    assert str(to_money("2.675")) == "2.68"
    assert str(to_money("-1.005")) == "-1.01"
    with pytest.raises(ValueError, match="not an amount"):
        to_money("lots")


def test_unanswered_days_defaults_to_3_and_must_be_at_least_1(monkeypatch):
    monkeypatch.delenv("FIELDSVC_UNANSWERED_DAYS", raising=False)
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["UNANSWERED_DAYS"] == 3
    monkeypatch.setenv("FIELDSVC_UNANSWERED_DAYS", "5")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["UNANSWERED_DAYS"] == 5
    monkeypatch.setenv("FIELDSVC_UNANSWERED_DAYS", "0")
    with pytest.raises(ConfigurationError, match="FIELDSVC_UNANSWERED_DAYS must be 1 or more"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
