"""SLA, overdue, process data and workflow versions over HTTP; the stage changes only through a
transition — PATCH and bulk create cannot set it. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from runtime.store.database import Database
from tests.app.factories import TestClient, assert_error, make_token, make_user
from tests.runtime.sla_factories import MONDAY_10, Clock, ticket_form
from tests.runtime.test_workflow_versions import _without_waiting


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    clock = Clock(MONDAY_10)
    app.state.services.clock = clock
    return clock


@pytest.fixture
def admin(client: TestClient, database: Database, clock: Clock) -> TestClient:
    user = make_user(database, "admin@example.com", is_admin=True)
    token, _ = make_token(database, user)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _ticket(api: TestClient) -> int:
    app = api.post("/api/v1/apps", json={"key": "it", "name": "IT"})
    assert app.status_code == 201, app.text
    form = api.post(f"/api/v1/apps/{app.json()['id']}/forms", json=ticket_form())
    assert form.status_code == 201, form.text
    form_id: int = form.json()["id"]
    assert api.post(f"/api/v1/forms/{form_id}/publish").status_code == 200
    return form_id


def _create(api: TestClient, form_id: int, title: str) -> dict[str, Any]:
    response = api.post(f"/api/v1/forms/{form_id}/records", json={"data": {"title": title}})
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def test_overdue_flag_list_and_count(admin: TestClient, clock: Clock) -> None:
    form_id = _ticket(admin)
    first = _create(admin, form_id, "一")
    clock.advance(hours=1)
    second = _create(admin, form_id, "二")
    detail = admin.get(f"/api/v1/records/{first['id']}").json()
    assert detail["due_at"] == "2026-11-23T06:00:00Z" and detail["overdue"] is False
    clock.advance(hours=4)  # 15:00 in Shanghai: the first is overdue, the second due now
    detail = admin.get(f"/api/v1/records/{first['id']}").json()
    assert detail["overdue"] is True
    page = admin.get(f"/api/v1/forms/{form_id}/overdue").json()
    assert [r["id"] for r in page["items"]] == [first["id"]]
    assert page["count"] == 1 and page["by_stage"] == {"open": 1}
    assert page["items"][0]["overdue_hours"] == 1.0 and page["next_cursor"] is None
    clock.advance(hours=1)
    page = admin.get(f"/api/v1/forms/{form_id}/overdue", params={"limit": 1}).json()
    assert [r["id"] for r in page["items"]] == [first["id"]] and page["count"] == 2
    rest = admin.get(
        f"/api/v1/forms/{form_id}/overdue", params={"limit": 1, "cursor": page["next_cursor"]}
    ).json()
    assert [r["id"] for r in rest["items"]] == [second["id"]]
    only = admin.get(f"/api/v1/forms/{form_id}/overdue", params={"stage": "working"}).json()
    assert only["count"] == 0 and only["items"] == []
    assert_error(
        admin.get(f"/api/v1/forms/{form_id}/overdue", params={"cursor": "xyz"}),
        422,
        "invalid_cursor",
        "cursor",
    )
    response = admin.get(f"/api/v1/forms/{form_id}/overdue", params={"limit": 0})
    assert response.status_code == 422
    assert_error(admin.get("/api/v1/forms/999999/overdue"), 404, "not_found")


def test_process_stats_route(admin: TestClient, clock: Clock) -> None:
    form_id = _ticket(admin)
    rec = _create(admin, form_id, "一")
    clock.advance(hours=2)
    moved = admin.post(f"/api/v1/records/{rec['id']}/transitions", json={"transition": "start"})
    assert moved.status_code == 200, moved.text
    clock.advance(hours=1)
    url = f"/api/v1/forms/{form_id}/process-stats"
    stats = admin.get(url, params={"since": "2026-11-23T00:00:00+08:00"}).json()
    assert stats["since"] == "2026-11-22T16:00:00Z" and stats["until"] == "2026-11-23T05:00:00Z"
    assert stats["stages"][0] == {
        "stage": "open",
        "count": 1,
        "avg_hours": 2.0,
        "p50_hours": 2.0,
        "p90_hours": 2.0,
        "with_deadline": 1,
        "breached": 0,
        "breach_rate": 0.0,
    }
    assert stats["transitions"] == [
        {"transition": "start", "from": "open", "to": "working", "action": None, "count": 1}
    ]
    # a time without an offset is ambiguous: refused, as is an empty period
    assert admin.get(url, params={"since": "2026-11-23T00:00:00"}).status_code == 422
    assert_error(
        admin.get(url, params={"since": "2026-11-24T00:00:00Z", "until": "2026-11-23T00:00:00Z"}),
        422,
        "invalid_period",
        "since",
    )


def test_publish_with_a_stage_mapping(admin: TestClient) -> None:
    form_id = _ticket(admin)
    rec = _create(admin, form_id, "一")
    for key in ("start", "wait"):
        moved = admin.post(f"/api/v1/records/{rec['id']}/transitions", json={"transition": key})
        assert moved.status_code == 200, moved.text
    assert admin.put(f"/api/v1/forms/{form_id}", json=_without_waiting()).status_code == 200
    refused = admin.post(f"/api/v1/forms/{form_id}/publish")
    body = assert_error(refused, 422, "stage_in_use", "stage_mapping.waiting")
    assert "1" in body["detail"][0]["message"]
    wrong = admin.post(f"/api/v1/forms/{form_id}/publish", json={"stage_mapping": {"waiting": ""}})
    assert wrong.status_code == 422
    assert_error(
        admin.post(f"/api/v1/forms/{form_id}/publish", json={"stage_mapping": {"waiting": "x"}}),
        422,
        "stage_mapping_unknown_target",
        "stage_mapping.waiting",
    )
    ok = admin.post(f"/api/v1/forms/{form_id}/publish", json={"stage_mapping": {"waiting": "hold"}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["published_version"] == 2
    assert admin.get(f"/api/v1/records/{rec['id']}").json()["stage"] == "hold"
    history = admin.get(f"/api/v1/records/{rec['id']}/history").json()
    assert history[-1]["action"] == "migrate"


def test_the_stage_cannot_be_set_by_patch_or_bulk_create(admin: TestClient) -> None:
    form_id = _ticket(admin)
    rec = _create(admin, form_id, "一")
    url = f"/api/v1/records/{rec['id']}"
    # as a data key: refused by the pipeline, naming the stage
    assert_error(
        admin.patch(url, json={"version": 1, "data": {"stage": "closed"}}),
        422,
        "stage_not_writable",
        "stage",
    )
    # beside the data: not a property of the body
    assert admin.patch(url, json={"version": 1, "stage": "closed", "data": {}}).status_code == 422
    bulk = f"/api/v1/forms/{form_id}/records/bulk"
    assert_error(
        admin.post(bulk, json={"records": [{"data": {"title": "二", "stage": "closed"}}]}),
        422,
        "stage_not_writable",
        "records[0].stage",
    )
    top = admin.post(bulk, json={"records": [{"data": {"title": "二"}, "stage": "closed"}]})
    assert top.status_code == 422
    created = admin.post(bulk, json={"records": [{"data": {"title": "三"}}]})
    assert created.status_code == 201 and created.json()["records"][0]["stage"] == "open"
    record = admin.get(url).json()
    assert record["stage"] == "open" and record["version"] == 1
    moved = admin.post(f"{url}/transitions", json={"transition": "start"})
    assert moved.json()["stage"] == "working"
