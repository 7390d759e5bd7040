"""Schemathesis against the API from its own generated OpenAPI document, on SQLite and
PostgreSQL, with the tokens of a technician, a supervisor and an admin in turn: no
answer is a 5xx, and every answer (errors too) matches what the document says.

Bounded: a few examples per operation and mode, so a run takes seconds, not minutes.
"""

from collections.abc import Iterator
from itertools import cycle

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from fieldsvc import create_app
from fieldsvc.api.models import SCOPES
from fieldsvc.api.services import issue_token
from fieldsvc.auth.models import Role
from fieldsvc.extensions import db
from tests import conftest
from tests.proposals.broken_transmitters import build_broken_transmitters

# Valid input, then input that breaks the schema (wrong types, missing fields, …).
EXAMPLES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 1}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_app(database_url: str, tmp_path_factory) -> Iterator[Flask]:
    """One app and one rolled-back transaction for the module: the broken transmitters'
    data, so generated ids find real incidents, proposals and part orders too."""
    uploads = tmp_path_factory.mktemp("uploads")
    app = create_app(
        conftest.test_config(
            database_url, UPLOAD_DIR=str(uploads), API_RATE_LIMIT="100000 per minute"
        )
    )
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, class_=Session, join_transaction_mode="create_savepoint")
        )
        try:
            seed = build_broken_transmitters()
            app.config["FUZZ_TOKENS"] = [
                issue_token(user, actor=user, name="fuzz", scopes=SCOPES, days=1).secret
                for user in (seed.technician, seed.supervisor, seed.admin)
            ]
            assert [user.role for user in (seed.technician, seed.supervisor, seed.admin)] == [
                Role.TECHNICIAN,
                Role.SUPERVISOR,
                Role.ADMIN,
            ]
            db.session.commit()
            yield app
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
            db.engine.dispose()


def _run(operation, tokens, mode: GenerationMode, failures: list[str]) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {next(tokens)}"})
        case.validate_response(response, checks=CHECKS)

    try:
        call()
    except Exception as failure:  # every operation's failure, not only the first
        failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {failure}")


def test_every_operation_answers_without_a_server_error_and_as_documented(fuzzed_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app)
    tokens = cycle(fuzzed_app.config["FUZZ_TOKENS"])
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    with fuzzed_app.app_context():
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, tokens, mode, failures)
    assert len(operations) > 30
    assert not failures, "\n\n".join(failures)
