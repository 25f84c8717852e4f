"""One error shape for everything: engine errors, bad requests, unknown routes, big bodies, bugs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from runtime.errors import (
    ConflictError,
    DatabaseNotMigratedError,
    DatabaseTooNewError,
    DatabaseUnavailableError,
    DefinitionRejectedError,
    EngineError,
    FieldError,
    InvalidQueryError,
    NotFoundError,
    PermissionDeniedError,
    RecordValidationError,
    StaleVersionError,
    VersionRequiredError,
)
from tests.app.factories import TestClient, assert_error, make_client

# Error mapping does not depend on the database: one backend is enough.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

LOGIN = "/api/v1/auth/login"
MIB = 1024 * 1024


class UnmappedError(EngineError):
    code = "unmapped"


ENGINE_CASES: list[tuple[EngineError, int, list[dict[str, str]]]] = [
    (
        RecordValidationError(
            [
                FieldError("budget", "too_small", "must be at least 0"),
                FieldError("contacts[1].name", "required", "required"),
            ]
        ),
        422,
        [
            {"field": "budget", "code": "too_small", "message": "must be at least 0"},
            {"field": "contacts[1].name", "code": "required", "message": "required"},
        ],
    ),
    (
        InvalidQueryError([FieldError("filter.and[0].op", "bad_operator", "no gt for text")]),
        422,
        [{"field": "filter.and[0].op", "code": "bad_operator", "message": "no gt for text"}],
    ),
    (
        DefinitionRejectedError(
            [{"path": "fields[3].options", "code": "empty_options", "message": "add options"}]
        ),
        422,
        [{"field": "fields[3].options", "code": "empty_options", "message": "add options"}],
    ),
    (
        NotFoundError("record", 7),
        404,
        [{"field": "", "code": "not_found", "message": "record 7 not found"}],
    ),
    (VersionRequiredError(), 428, [{"field": "", "code": "version_required", "message": ""}]),
    (
        PermissionDeniedError("form.manage"),
        403,
        [{"field": "", "code": "permission_denied", "message": "not allowed: form.manage"}],
    ),
    (
        ConflictError("key taken", code="key_taken"),
        409,
        [{"field": "", "code": "key_taken", "message": "key taken"}],
    ),
    (
        DatabaseNotMigratedError(current=None, head="0002"),
        503,
        [{"field": "", "code": "database_not_migrated", "message": ""}],
    ),
    (
        DatabaseTooNewError(current="0099", head="0002"),
        503,
        [{"field": "", "code": "database_too_new", "message": ""}],
    ),
    (
        DatabaseUnavailableError(),
        503,
        [{"field": "", "code": "database_unavailable", "message": ""}],
    ),
]


@pytest.fixture
def raising_client(app: FastAPI) -> Iterator[TestClient]:
    state: dict[str, Exception] = {}

    @app.get("/boom")
    def boom() -> None:
        raise state["error"]

    app.state.next_error = state
    with make_client(app) as client:
        yield client


def _raise(client: TestClient, error: Exception, lang: str = "en") -> Any:
    """``error`` raised by a route; the response in ``lang`` (``""``: no Accept-Language)."""
    client.app.state.next_error["error"] = error  # type: ignore[attr-defined]
    return client.get("/boom", headers={"Accept-Language": lang} if lang else {})


@pytest.mark.parametrize(("error", "status", "items"), ENGINE_CASES, ids=lambda c: repr(c)[:30])
def test_engine_errors_map_to_statuses(
    raising_client: TestClient, error: EngineError, status: int, items: list[dict[str, str]]
) -> None:
    response = _raise(raising_client, error)
    assert response.status_code == status
    # An empty message in the table stands for the error's own (long) message.
    assert response.json() == {
        "detail": [{**e, "message": e["message"] or error.message} for e in items]
    }


def test_stale_version_carries_the_current_record(raising_client: TestClient) -> None:
    current = {"id": 5, "version": 4, "data": {"name": "华为"}}
    response = _raise(raising_client, StaleVersionError(3, current))
    body = assert_error(response, 409, "stale_version")
    assert body["current"] == current


def test_unmapped_engine_error_is_a_generic_500(
    raising_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="stageform.errors"):
        response = _raise(raising_client, UnmappedError("secret internals"))
    assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert any("UnmappedError" in record.getMessage() for record in caplog.records)


def test_unexpected_exception_is_a_generic_500_and_logged(
    raising_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="stageform.errors"):
        response = _raise(raising_client, RuntimeError("password=hunter2 in a traceback"))
    assert_error(response, 500, "internal_error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert logged, "the exception was not logged"


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        LOGIN, content=b'{"email": "a@b.c", ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "json_invalid")


def test_wrong_types_are_422_per_field(client: TestClient) -> None:
    response = client.post(LOGIN, json={"email": 42, "password": ["x"]})
    body = assert_error(response, 422, "string_type", field="email")
    assert [d["field"] for d in body["detail"]] == ["email", "password"]
    assert_error(client.post(LOGIN, json=[1, 2]), 422, "model_attributes_type")
    assert_error(client.post(LOGIN, json={}), 422, "missing", field="email")


def test_deeply_nested_json_is_a_client_error(client: TestClient) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"][0]["code"]


def test_unknown_route_and_method_are_in_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/api/v1/no/such/thing"), 404, "not_found")
    assert_error(client.get("/nothing-here"), 404, "not_found")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")


def test_body_over_the_limit_is_413_by_content_length(client: TestClient) -> None:
    body = b" " * (10 * MIB + 1)
    response = client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "a@b.c", "password": "'
        for _ in range(11):
            yield b"x" * MIB
        yield b'"}'

    # A generator body is sent chunked, without Content-Length.
    response = client.post(LOGIN, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "body_too_large")


def test_body_just_under_the_limit_is_read(client: TestClient) -> None:
    payload = json.dumps({"email": "a@b.c", "password": "x"}).encode()
    body = payload + b" " * (10 * MIB - len(payload))
    response = client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 401, "invalid_credentials")


def test_invalid_content_length_is_400(client: TestClient) -> None:
    response = client.post(LOGIN, content=b"{}", headers={"Content-Length": "abc"})
    assert response.status_code == 400
