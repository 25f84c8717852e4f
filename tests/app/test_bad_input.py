"""Regression tests for what the schemathesis run (``test_schemathesis.py``) and probes around it
found: input that reached the database driver or the JSON encoder and answered 500, and
statuses the OpenAPI document did not declare. Each answers a 4xx in the error shape now, on
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.routing import APIRoute

from app.api import ROUTERS
from app.api.common import MAX_INT32, MAX_INT64, JSONRoute, loads_json
from runtime.actor import Actor
from runtime.services import Services
from runtime.store.database import Database
from runtime.store.query import _check as cursor_checksum
from templates_lib.loader import load_template
from tests.app.factories import TestClient, assert_error, make_token, make_user

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def crm(client: TestClient, database: Database) -> dict[str, Any]:
    """The CRM template installed; ``client`` authenticated as an admin by token."""
    user = make_user(database, "admin@example.com", is_admin=True)
    token, _ = make_token(database, user)
    client.headers["Authorization"] = f"Bearer {token}"
    actor = Actor(user_id=user.id, is_admin=True)
    template = load_template("crm")
    services = Services()
    with database.begin() as conn:
        app = services.install_app(conn, actor, template.app, template.sample_data)
        forms = {f.key: f.id for f in services.list_forms(conn, actor, app.id)}
        record = services.query(conn, actor, forms["customer"], {"limit": 1})["items"][0]
    return {"app": app.id, **forms, "record": record["id"], "version": record["version"]}


# --- ids and versions beyond the columns' range ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/apps/{big32}"),
        ("PATCH", "/api/v1/apps/{big32}"),
        ("DELETE", "/api/v1/apps/{big32}"),
        ("GET", "/api/v1/apps/{big32}/forms"),
        ("GET", "/api/v1/forms/{big32}"),
        ("POST", "/api/v1/forms/{big32}/publish"),
        ("GET", "/api/v1/forms/{big32}/schema"),
        ("POST", "/api/v1/forms/{big32}/records/aggregate"),
        ("GET", "/api/v1/records/{big64}"),
        ("GET", "/api/v1/records/{big64}/history"),
        ("GET", "/api/v1/records/0"),
    ],
)
def test_ids_beyond_their_column_are_422_not_500(
    crm: dict[str, Any], client: TestClient, method: str, path: str
) -> None:
    # Apps' and forms' ids are INTEGER on PostgreSQL, records' BIGINT: one past each failed
    # in the driver (PostgreSQL "out of range", SQLite OverflowError) and answered 500.
    url = path.format(big32=MAX_INT32 + 1, big64=MAX_INT64 + 1)
    body = {} if method in ("PATCH", "POST") else None
    response = client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"].endswith("_id")
    # The largest valid id is a plain 404.
    url = path.format(big32=MAX_INT32, big64=MAX_INT64).replace("/records/0", "/records/1")
    if url != path:
        assert client.request(method, url, json=body).status_code in (404, 200)


def test_version_beyond_its_column_is_422_in_the_body_and_missing_in_if_match(
    crm: dict[str, Any], client: TestClient
) -> None:
    record = f"/api/v1/records/{crm['record']}"
    big = MAX_INT32 + 1
    assert_error(
        client.request("DELETE", record, json={"version": 2**70}), 422, "less_than_equal", "version"
    )
    assert_error(
        client.patch(record, json={"version": big, "data": {}}), 422, "less_than_equal", "version"
    )
    # An If-Match that is not a version counts as missing: too large, or digits that are not
    # ASCII ("²" passed str.isdigit() and then failed int(): 500).
    for tag in (f'"{big}"', '"' + "9" * 40 + '"', "\u00b2", "\u0663"):
        headers = {"If-Match": tag.encode("latin-1", "replace")}
        assert_error(client.request("DELETE", record, headers=headers), 428, "version_required")
    assert client.delete(record, headers={"If-Match": f'"{crm["version"]}"'}).status_code == 204


# --- apps: null and NUL ------------------------------------------------------------------------


def test_app_update_refuses_null_name_and_description(
    crm: dict[str, Any], client: TestClient
) -> None:
    # null reached a NOT NULL column: IntegrityError, 500.
    url = f"/api/v1/apps/{crm['app']}"
    assert_error(client.patch(url, json={"description": None}), 422, "string_type", "description")
    assert_error(client.patch(url, json={"name": None}), 422, "string_type", "name")
    cleared = client.patch(url, json={"description": "", "icon": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["description"] == "" and cleared.json()["icon"] is None
    assert client.get(url).json()["name"] == cleared.json()["name"]


def test_app_text_with_nul_is_422(crm: dict[str, Any], client: TestClient) -> None:
    # PostgreSQL text cannot hold NUL: DataError, 500.
    created = client.post("/api/v1/apps", json={"key": "x", "name": "a\x00b"})
    assert_error(created, 422, "string_pattern_mismatch", "name")
    updated = client.patch(f"/api/v1/apps/{crm['app']}", json={"description": "\x00"})
    assert_error(updated, 422, "string_pattern_mismatch", "description")


# --- JSON that is not JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"data": {"name": "\\ud800"}}', "unpaired surrogate"),
        (b'{"data": {"name": "x\\udfff"}}', "unpaired surrogate"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"data": {"name": "\xe5"}}', "not UTF-8"),
        (b'{"data": {"budget": NaN}}', "NaN is not JSON"),
        (b'{"data": {"budget": -Infinity}}', "Infinity is not JSON"),
        (b'{"data": {"budget": 1' + b"0" * 5000 + b"}}", "4300 digits"),
        (b'{"data": {"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "nested too deeply"),
    ],
)
def test_malformed_json_is_422_json_invalid(
    crm: dict[str, Any], client: TestClient, body: bytes, reason: str
) -> None:
    # A lone surrogate failed to encode for the database (500); non-UTF-8 answered an
    # undeclared 400; NaN/Infinity are not JSON.
    response = client.post(f"/api/v1/forms/{crm['customer']}/records", content=body, headers=JSON)
    error = assert_error(response, 422, "json_invalid")
    assert reason in error["detail"][0]["message"]


def test_strict_json_still_reads_what_json_allows() -> None:
    assert loads_json(b'{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}') == {"a": "😀", "b": "\\ud800"}
    assert loads_json('\ufeff{"名": 1.5e3}'.encode()) == {"名": 1500.0}


def test_every_api_router_reads_json_strictly() -> None:
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert routes and all(isinstance(r, JSONRoute) for r in routes)


# --- query values the database cannot bind ----------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "id", "op": "eq", "value": 2**70},
        {"field": "id", "op": "in", "value": [1, -(2**70)]},
        {"field": "created_by", "op": "eq", "value": MAX_INT32 + 1},
        {"field": "updated_by", "op": "eq", "value": 1e300},
        {"field": "name", "op": "eq", "value": "a\x00b"},
        {"field": "name", "op": "contains", "value": "\x00"},
        {"field": "grade", "op": "in", "value": ["A", "\x00"]},
        {"field": "tags", "op": "contains", "value": "\x00"},
        {"field": "stage", "op": "eq", "value": "\x00"},
    ],
)
def test_filter_values_no_column_can_hold_are_422(
    crm: dict[str, Any], client: TestClient, condition: dict[str, Any]
) -> None:
    for route in ("query", "aggregate"):
        response = client.post(
            f"/api/v1/forms/{crm['customer']}/records/{route}", json={"filter": condition}
        )
        assert_error(response, 422, "invalid_filter_value", "filter.conditions[0].value")


def _forged(cursor: str, values: list[Any]) -> str:
    """``cursor`` with its values replaced, checksum and all (the checksum is no secret)."""
    outer = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    inner = json.loads(outer["b"])
    body = json.dumps({"s": inner["s"], "v": values}, separators=(",", ":"))
    raw = json.dumps({"b": body, "c": cursor_checksum(body)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ([], [2**70]),
        ([{"field": "created_by"}], [MAX_INT32 + 1, 1]),
        ([{"field": "stage"}], ["\x00", 1]),
        ([{"field": "stage"}], [5, 1]),
        ([{"field": "created_at"}], ["2024-01-01", 1]),
        ([{"field": "next_followup_at"}], [{"t": "9999-12-31T23:59:59+00:00"}, 1]),
        ([{"field": "next_followup_at"}], [{"d": "1e999999"}, 1]),
        ([{"field": "next_followup_at"}], [2**70, 1]),
        ([{"field": "budget"}], [{"d": "1e999999"}, 1]),
        ([{"field": "budget"}], ["\x00", 1]),
    ],
)
def test_made_up_cursors_are_422(
    crm: dict[str, Any], client: TestClient, sort: list[Any], values: list[Any]
) -> None:
    # A value of another type than the sort key's (PostgreSQL: "operator does not exist"),
    # out of range or with NUL reached the database: 500.
    url = f"/api/v1/forms/{crm['customer']}/records/query"
    first = client.post(url, json={"limit": 1, "sort": sort})
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    assert client.post(url, json={"limit": 1, "sort": sort, "cursor": cursor}).status_code == 200
    response = client.post(url, json={"limit": 1, "sort": sort, "cursor": _forged(cursor, values)})
    assert_error(response, 422, "invalid_cursor", "cursor")


# --- the OpenAPI document declares what the routes answer -------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_declares_the_error_statuses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    record = paths["/api/v1/records/{record_id}"]
    assert {"404", "409", "428"} <= set(record["patch"]["responses"])
    assert {"404", "409", "428"} <= set(record["delete"]["responses"])
    assert "428" not in record["get"]["responses"]
    assert "429" in paths["/api/v1/auth/login"]["post"]["responses"]
    conflict = record["patch"]["responses"]["409"]["content"]["application/json"]["schema"]
    assert conflict == {"$ref": "#/components/schemas/ConflictBody"}
    for path, operations in paths.items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"400", "401", "403", "413", "422", "503"} <= declared, (method, path)
            if "{" in path:
                assert "404" in declared, (method, path)
            params = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
            for name, schema in params.items():
                if name.endswith("_id"):
                    # an optional id (a filter) is anyOf [integer, null]
                    schema = next(
                        (s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer"),
                        schema,
                    )
                    assert schema["minimum"] == 1 and schema["maximum"] in (MAX_INT32, MAX_INT64)


# --- found by a review (session 15): each was a 500 ---


def _forged(cursor, values):
    outer = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    inner = json.loads(outer["b"])
    body = json.dumps({"s": inner["s"], "v": values}, separators=(",", ":"))
    raw = json.dumps({"b": body, "c": cursor_checksum(body)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("op,value", [("gt", ""), ("lte", " "), ("between", [1, ""])])
def test_blank_comparison_value_is_422(crm, client, op, value):
    url = f"/api/v1/forms/{crm['customer']}/records/query"
    r = client.post(url, json={"filter": {"field": "budget", "op": op, "value": value}})
    assert r.status_code == 422, (r.status_code, r.text[:300])


def test_out_of_range_datetime_in_a_made_up_cursor_is_422(crm, client):
    url = f"/api/v1/forms/{crm['customer']}/records/query"
    sort = [{"field": "created_at"}]
    first = client.post(url, json={"limit": 1, "sort": sort})
    cursor = first.json()["next_cursor"]
    r = client.post(
        url,
        json={
            "limit": 1,
            "sort": sort,
            "cursor": _forged(cursor, [{"t": "0001-01-01T00:00:00+05:00"}, 1]),
        },
    )
    assert r.status_code == 422, (r.status_code, r.text[:300])
