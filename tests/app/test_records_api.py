"""The apps, forms and records API end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from app.deps import INLINE_MAX_BODY
from runtime.store import engine as engine_settings
from runtime.store import search_index, tables
from runtime.store.database import Database
from tests.app.factories import TestClient, assert_error, grant, make_token, make_user
from tests.builder.factories import customer_form, followup_form


@pytest.fixture
def admin(client: TestClient, database: Database) -> TestClient:
    user = make_user(database, "admin@example.com", is_admin=True)
    token, _ = make_token(database, user)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _crm(api: TestClient) -> dict[str, int]:
    app = api.post("/api/v1/apps", json={"key": "crm", "name": "客户管理"})
    assert app.status_code == 201, app.text
    ids = {}
    for definition in (customer_form(), followup_form()):
        form = api.post(f"/api/v1/apps/{app.json()['id']}/forms", json=definition)
        assert form.status_code == 201, form.text
        ids[definition["key"]] = form.json()["id"]
    for form_id in ids.values():
        published = api.post(f"/api/v1/forms/{form_id}/publish")
        assert published.status_code == 200, published.text
        assert published.json()["published_version"] == 1
    return ids


def test_a_create_records_its_tokens_use_in_its_own_transaction(
    client: TestClient, database: Database
) -> None:
    # A token met before is authenticated inside the create's write transaction, and its use
    # (last_used_at, written once a minute at most) is recorded there too: a transaction of
    # its own would wait for the write lock the create holds (SQLite's busy timeout, then a
    # warning and no record of the use).
    user = make_user(database, "admin@example.com", is_admin=True)
    token, token_id = make_token(database, user)
    client.headers["Authorization"] = f"Bearer {token}"
    ids = _crm(client)
    url = f"/api/v1/forms/{ids['customer']}/records"
    assert client.post(url, json={"data": {"name": "甲"}}).status_code == 201  # token now met

    def last_used() -> Any:
        with database.read() as conn:
            return conn.execute(
                sa.select(tables.api_tokens.c.last_used_at).where(
                    tables.api_tokens.c.id == token_id
                )
            ).scalar_one()

    with database.begin() as conn:  # as if last used long ago
        conn.execute(
            sa.update(tables.api_tokens)
            .where(tables.api_tokens.c.id == token_id)
            .values(last_used_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        )
    started = time.monotonic()
    created = client.post(url, json={"data": {"name": "乙"}})
    assert created.status_code == 201, created.text
    assert time.monotonic() - started < engine_settings.BUSY_TIMEOUT_MS / 1000
    assert last_used() > dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    # A create that fails rolls the record of the use back with it; the next use records it.
    with database.begin() as conn:
        conn.execute(
            sa.update(tables.api_tokens)
            .where(tables.api_tokens.c.id == token_id)
            .values(last_used_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        )
    bad = client.post(url, json={"data": {"nope": 1}})
    assert bad.status_code == 422, bad.text
    assert last_used() == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def _all(api: TestClient, form_id: int) -> list[dict[str, Any]]:
    page = api.post(f"/api/v1/forms/{form_id}/records/query", json={"limit": 500})
    assert page.status_code == 200, page.text
    return sorted(page.json()["items"], key=lambda r: r["id"])


def test_a_small_write_runs_on_the_event_loop_on_sqlite_and_a_big_one_in_a_worker(
    admin: TestClient, app: Any, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # app.deps.Writer: on SQLite a write of a small body (create, edit, comment, delete,
    # restore) runs on the event loop while the write lock is free and no read is in progress (no hand-off to a worker thread and
    # back); a body over INLINE_MAX_BODY, and every PostgreSQL write (round trips), goes to a
    # worker thread.
    ids = _crm(admin)
    url = f"/api/v1/forms/{ids['customer']}/records"
    services = app.state.services
    threads: list[str] = []

    def watch(method: Any) -> Any:
        def watched(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return method(*args, **kwargs)

        return watched

    monkeypatch.setattr(services, "create_record", watch(services.create_record))
    small = admin.post(url, json={"data": {"name": "小"}})
    assert small.status_code == 201, small.text
    body = orjson.dumps({"data": {"name": "大"}}) + b" " * INLINE_MAX_BODY  # same data
    big = admin.post(url, content=body, headers={"Content-Type": "application/json"})
    assert big.status_code == 201, big.text
    worker = "AnyIO worker thread"
    # While a read is in progress (another request's), a write on the loop would hold it
    # up: a worker thread, as before.
    with database.read():
        during_read = admin.post(url, json={"data": {"name": "读"}})
    assert during_read.status_code == 201, during_read.text
    if database.dialect == "sqlite":
        assert threads[0] != worker and threads[1:] == [worker, worker], threads
    else:
        assert threads == [worker, worker, worker]
    assert [r["data"]["name"] for r in _all(admin, ids["customer"])] == ["小", "大", "读"]
    # An edit (and a transition: the same Writer) likewise.
    monkeypatch.setattr(services, "update_record", watch(services.update_record))
    record = small.json()
    edited = admin.patch(
        f"/api/v1/records/{record['id']}",
        json={"version": record["version"], "data": {"name": "改"}},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"]["name"] == "改"
    assert (threads[3] != worker) == (database.dialect == "sqlite"), threads
    # A comment, a delete and a restore (these two without a body) likewise.
    for name in ("add_comment", "delete_record", "restore_record"):
        monkeypatch.setattr(services, name, watch(getattr(services, name)))
    commented = admin.post(f"/api/v1/records/{record['id']}/comments", json={"body": "好"})
    assert commented.status_code == 201, commented.text
    deleted = admin.delete(
        f"/api/v1/records/{record['id']}", headers={"If-Match": f'"{edited.json()["version"]}"'}
    )
    assert deleted.status_code == 204, deleted.text
    restored = admin.post(f"/api/v1/records/{record['id']}/restore")
    assert restored.status_code == 200, restored.text
    on_loop = [name != worker for name in threads[4:]]
    assert on_loop == [database.dialect == "sqlite"] * 3, threads


def test_a_create_that_meets_another_processs_writer_waits_off_the_event_loop(
    admin: TestClient, database: Database
) -> None:
    # SQLite: another process holds the write lock. The create must wait for it (not fail),
    # and wait in a worker thread: the event loop keeps serving other requests meanwhile.
    if database.dialect != "sqlite":
        pytest.skip("SQLite's write lock")
    ids = _crm(admin)
    url = f"/api/v1/forms/{ids['customer']}/records"
    assert database.sqlite_path is not None
    other = sqlite3.connect(database.sqlite_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    done: dict[str, Any] = {}
    creator = threading.Thread(
        target=lambda: done.update(response=admin.post(url, json={"data": {"name": "等"}}))
    )
    try:
        creator.start()
        creator.join(0.5)
        assert creator.is_alive()  # waiting for the lock
        assert admin.get("/healthz").status_code == 200  # the loop is free meanwhile
        assert creator.is_alive()
    finally:
        other.execute("COMMIT")
        other.close()
        creator.join(10)
    assert done["response"].status_code == 201, done["response"].text
    assert [r["data"]["name"] for r in _all(admin, ids["customer"])] == ["等"]


def test_record_lifecycle(admin: TestClient) -> None:
    ids = _crm(admin)
    created = admin.post(
        f"/api/v1/forms/{ids['customer']}/records",
        json={"data": {"name": "华为", "budget": "¥200,000", "grade": "A"}},
    )
    assert created.status_code == 201, created.text
    record: dict[str, Any] = created.json()
    assert set(record) == {
        "id",
        "form_id",
        "version",
        "stage",
        "data",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    }
    assert record["stage"] == "new" and record["data"]["score"] == 120
    rid = record["id"]
    got = admin.get(f"/api/v1/records/{rid}")
    detail = got.json()
    assert detail.pop("available_transitions") == [
        {"key": "first_contact", "label": "完成首次沟通", "to": "contacted"},
        {"key": "lose", "label": "流失", "to": "lost"},
    ]
    assert detail.pop("due_at") is None and detail.pop("overdue") is False  # 新客户: no SLA
    assert (detail.pop("assignee_id"), detail.pop("approval")) == (None, None)
    assert detail == record and got.headers["ETag"] == '"1"'
    # PATCH needs a version: body or If-Match
    assert_error(
        admin.patch(f"/api/v1/records/{rid}", json={"data": {"grade": "B"}}),
        428,
        "version_required",
    )
    patched = admin.patch(
        f"/api/v1/records/{rid}", json={"data": {"grade": "B"}}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2
    stale = admin.patch(f"/api/v1/records/{rid}", json={"version": 1, "data": {"grade": "C"}})
    body = assert_error(stale, 409, "stale_version")
    assert body["current"]["version"] == 2 and body["current"]["data"]["grade"] == "B"
    assert body["detail"][0]["message"] == "记录在版本 1 之后已被修改，请重新加载后再试"
    ahead = admin.patch(f"/api/v1/records/{rid}", json={"version": 7, "data": {"grade": "C"}})
    body = assert_error(ahead, 409, "stale_version")  # the same code, told as "version_ahead"
    assert body["detail"][0]["message"] == "记录没有版本 7，当前是版本 2；请重新加载后再试"
    history = admin.get(f"/api/v1/records/{rid}/history").json()
    assert [h["action"] for h in history] == ["create", "update"]
    assert history[1]["diff"]["grade"] == ["A", "B"]
    comment = admin.post(f"/api/v1/records/{rid}/comments", json={"body": "已联系"})
    assert comment.status_code == 201
    assert [c["body"] for c in admin.get(f"/api/v1/records/{rid}/comments").json()] == ["已联系"]
    assert admin.request("DELETE", f"/api/v1/records/{rid}", json={"version": 2}).status_code == 204
    assert_error(admin.get(f"/api/v1/records/{rid}"), 404, "not_found")
    restored = admin.post(f"/api/v1/records/{rid}/restore")
    assert restored.status_code == 200 and restored.json()["version"] == 4


def test_invalid_data_is_422_with_every_field(admin: TestClient) -> None:
    ids = _crm(admin)
    response = admin.post(
        f"/api/v1/forms/{ids['customer']}/records",
        json={"data": {"grade": "Z", "nope": 1, "stage": "won"}},
    )
    assert response.status_code == 422
    fields = {(d["field"], d["code"]) for d in response.json()["detail"]}
    assert fields == {
        ("grade", "invalid_option"),
        ("nope", "unknown_field"),
        ("stage", "stage_not_writable"),
    }


def test_bulk_is_all_or_nothing(admin: TestClient) -> None:
    ids = _crm(admin)
    url = f"/api/v1/forms/{ids['customer']}/records"
    rows = [{"data": {"name": f"客户{i}"}} for i in range(3)] + [{"data": {"name": "客户0"}}]
    response = admin.post(f"{url}/bulk", json={"records": rows})
    assert_error(response, 422, "not_unique", "records[3].name")
    query = admin.post(f"{url}/query", json={})
    assert query.status_code == 200, query.text
    assert query.json()["count"] == 0
    ok = admin.post(f"{url}/bulk", json={"records": rows[:3]})
    assert ok.status_code == 201 and len(ok.json()["records"]) == 3


def test_a_refused_single_create_leaves_nothing(admin: TestClient, database: Database) -> None:
    # The create route writes without a savepoint of its own (its transaction holds only the
    # create): a unique value found taken after the record row went in must still leave no
    # record, history, event, stage-log entry, claim or serial number behind.
    ids = _crm(admin)
    url = f"/api/v1/forms/{ids['customer']}/records"
    first = admin.post(url, json={"data": {"name": "华为"}})
    assert first.status_code == 201, first.text

    def counts() -> dict[str, Any]:
        with database.read() as conn:
            return {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("records", "record_history", "outbox", "stage_log", "record_unique")
            } | {
                "serials": conn.execute(
                    sa.text("SELECT coalesce(sum(value), 0) FROM serial_counters")
                ).scalar()
            }

    before = counts()
    assert_error(admin.post(url, json={"data": {"name": "华为"}}), 422, "not_unique", "name")
    assert counts() == before
    second = admin.post(url, json={"data": {"name": "中兴"}})
    assert second.status_code == 201, second.text
    assert second.json()["data"]["code"] != first.json()["data"]["code"]


def test_query_and_aggregate(admin: TestClient) -> None:
    ids = _crm(admin)
    url = f"/api/v1/forms/{ids['customer']}/records"
    for i, grade in enumerate("AABCD"):
        admin.post(url, json={"data": {"name": f"华东客户{i}", "grade": grade, "budget": 1000 * i}})
    page = admin.post(
        f"{url}/query",
        json={
            "filter": {"and": [{"field": "grade", "op": "in", "value": ["A", "B"]}]},
            "sort": [{"field": "budget", "dir": "desc"}],
            "limit": 2,
            "search": "华东",
            "fields": ["name", "grade"],
        },
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["count"] == 3 and body["next_cursor"]
    assert [r["data"] for r in body["items"]] == [
        {"name": "华东客户2", "grade": "B"},
        {"name": "华东客户1", "grade": "A"},
    ]
    rest = admin.post(
        f"{url}/query",
        json={
            "filter": {"and": [{"field": "grade", "op": "in", "value": ["A", "B"]}]},
            "sort": [{"field": "budget", "dir": "desc"}],
            "limit": 2,
            "search": "华东",
            "cursor": body["next_cursor"],
        },
    ).json()
    assert [r["data"]["name"] for r in rest["items"]] == ["华东客户0"] and rest[
        "next_cursor"
    ] is None
    assert_error(
        admin.post(
            f"{url}/query", json={"filter": {"field": "budget", "op": "contains", "value": 1}}
        ),
        422,
        "operator_not_supported",
        "filter.conditions[0].op",
    )
    agg = admin.post(
        f"{url}/aggregate",
        json={
            "group_by": [{"field": "grade"}],
            "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
        },
    )
    assert agg.status_code == 200, agg.text
    groups = {g["keys"]["grade"]: g["values"] for g in agg.json()["groups"]}
    assert groups["A"] == {"count": 2, "sum_budget": 1000}


def test_definitions_are_validated_over_http(admin: TestClient) -> None:
    app = admin.post("/api/v1/apps", json={"key": "crm", "name": "客户管理"}).json()
    bad = customer_form()
    bad["fields"][0]["type"] = "colour"
    response = admin.post(f"/api/v1/apps/{app['id']}/forms", json=bad)
    assert_error(response, 422, "unknown_field_type", "fields[0]")
    form = admin.post(f"/api/v1/apps/{app['id']}/forms", json=customer_form()).json()
    assert_error(
        admin.post(f"/api/v1/forms/{form['id']}/records", json={"data": {}}),
        409,
        "form_not_published",
    )
    schema = admin.get(f"/api/v1/forms/{form['id']}/schema")
    assert_error(schema, 409, "form_not_published")
    admin.post(f"/api/v1/forms/{form['id']}/publish")
    schema = admin.get(f"/api/v1/forms/{form['id']}/schema").json()
    assert schema["$schema"].endswith("2020-12/schema")


def test_unknown_ids_are_404(admin: TestClient) -> None:
    assert_error(admin.get("/api/v1/records/999999"), 404, "not_found")
    assert_error(admin.post("/api/v1/forms/999999/records", json={"data": {}}), 404, "not_found")
    assert_error(admin.get("/api/v1/apps/999999"), 404, "not_found")


def test_transitions_over_http(admin: TestClient, database: Database) -> None:
    ids = _crm(admin)
    rec = admin.post(
        f"/api/v1/forms/{ids['customer']}/records", json={"data": {"name": "华为"}}
    ).json()
    detail = admin.get(f"/api/v1/records/{rec['id']}").json()
    assert [t["key"] for t in detail["available_transitions"]] == ["first_contact", "lose"]
    url = f"/api/v1/records/{rec['id']}/transitions"
    assert_error(
        admin.post(url, json={"transition": "first_contact"}),
        422,
        "required_for_transition",
        "phone",
    )
    assert_error(admin.post(url, json={"transition": "win"}), 422, "wrong_stage", "transition")
    moved = admin.post(
        url,
        json={
            "transition": "first_contact",
            "data": {"phone": "13812345678"},
            "comment": "已电话联系",
        },
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "contacted" and moved.json()["version"] == 2
    # the stage cannot be PATCHed
    assert_error(
        admin.patch(f"/api/v1/records/{rec['id']}", json={"version": 2, "data": {"stage": "won"}}),
        422,
        "stage_not_writable",
        "stage",
    )
    # a user without the role may not close the deal (403), whatever the page shows
    from tests.app.factories import make_token as token_for

    seller = make_user(database, "seller@example.com")
    token, _ = token_for(database, seller)
    other = {"Authorization": f"Bearer {token}"}
    admin.post(url, json={"transition": "negotiate", "data": {"budget": 1}})
    # without a permission set on the form the record does not exist for them
    assert_error(admin.post(url, json={"transition": "win"}, headers=other), 404, "not_found")
    grant(admin, ids["customer"], [("user", seller.id)], "view_all")
    assert_error(
        admin.post(url, json={"transition": "win"}, headers=other), 403, "permission_denied"
    )


def test_purge_is_for_admins_and_only_from_the_recycle_bin(
    admin: TestClient, database: Database
) -> None:
    ids = _crm(admin)
    rec = admin.post(
        f"/api/v1/forms/{ids['customer']}/records", json={"data": {"name": "华为"}}
    ).json()
    url = f"/api/v1/records/{rec['id']}"
    assert_error(admin.post(f"{url}/purge"), 404, "not_found")  # still live
    admin.request("DELETE", url, json={"version": 1})
    user = make_user(database, "user@example.com")
    token, _ = make_token(database, user)
    assert_error(
        admin.post(f"{url}/purge", headers={"Authorization": f"Bearer {token}"}),
        403,
        "permission_denied",
    )
    assert admin.post(f"{url}/purge").status_code == 204
    assert_error(admin.post(f"{url}/restore"), 404, "not_found")  # gone for good


def test_search_finds_fresh_changed_and_deleted_records_before_and_after_indexing(
    admin: TestClient, database: Database
) -> None:
    # The server's indexer applies the search queue a moment after each write; the answers
    # are the same before and after (both databases).
    ids = _crm(admin)
    url = f"/api/v1/forms/{ids['customer']}/records"

    def names(search: str) -> list[str]:
        page = admin.post(f"{url}/query", json={"search": search, "fields": ["name"]})
        assert page.status_code == 200, page.text
        return sorted(r["data"]["name"] for r in page.json()["items"])

    def both(search: str) -> list[str]:
        before = names(search)
        wait = threading.Event()
        for _ in range(1000):  # the indexer runs on its own thread: up to ~20 s under load
            if not search_index.pending(database):
                break
            wait.wait(0.02)
        assert not search_index.pending(database)
        assert names(search) == before
        return before

    rid = admin.post(url, json={"data": {"name": "浦东新区客户"}}).json()["id"]
    assert names("浦东新区") == ["浦东新区客户"]  # a moment after the write
    assert both("浦东新区") == ["浦东新区客户"]
    changed = admin.patch(
        f"/api/v1/records/{rid}", json={"version": 1, "data": {"name": "徐汇客户"}}
    )
    assert changed.status_code == 200, changed.text
    assert names("浦东新区") == []
    assert both("徐汇客户") == ["徐汇客户"] and both("浦东新区") == []
    deleted = admin.request("DELETE", f"/api/v1/records/{rid}", json={"version": 2})
    assert deleted.status_code == 204
    assert both("徐汇客户") == []
    assert admin.post(f"/api/v1/records/{rid}/restore").status_code == 200
    assert both("徐汇客户") == ["徐汇客户"]
