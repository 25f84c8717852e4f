"""Public fill and query links over HTTP, on SQLite and PostgreSQL: management (admins only,
audited), filling through the pipeline as nobody, the honeypot, exact-match queries without
enumeration, expiry, revocation, passwords, rate limits, and that a link's token opens nothing
else."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.security import hash_secret
from runtime.services import upgrade
from runtime.store import search_index, tables
from runtime.store.database import Database
from tests.app.factories import TestClient, assert_error, make_client, make_token, make_user

API = "/api/v1"


def shipment_form() -> dict[str, Any]:
    return {
        "key": "shipment",
        "name": "订单进度",
        "title_field": "order_no",
        "fields": [
            {
                "key": "order_no",
                "type": "text",
                "label": "订单号",
                "required": True,
                "unique": True,
            },
            {"key": "phone", "type": "phone", "label": "手机"},
            {"key": "customer", "type": "text", "label": "客户"},
            {"key": "note", "type": "rich_text", "label": "说明"},
            {"key": "internal", "type": "text", "label": "内部备注"},
        ],
        "workflow": {
            "stages": [
                {"key": "received", "name": "已接单", "initial": True},
                {"key": "shipped", "name": "已发货"},
                {"key": "done", "name": "完成", "kind": "done"},
            ],
            "transitions": [
                {"key": "ship", "label": "发货", "from": ["received"], "to": "shipped"},
                {"key": "finish", "label": "完成", "from": ["shipped"], "to": "done"},
            ],
        },
    }


QUERY_CONFIG = {
    "match": [{"field": "order_no"}, {"field": "phone", "match": "suffix", "length": 4}],
    "show": ["order_no", "customer", "note"],
    "show_stage": True,
}


@pytest.fixture
def admin(client: TestClient, database: Database) -> TestClient:
    user = make_user(database, "admin@example.com", is_admin=True)
    token, _ = make_token(database, user)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
def form_id(admin: TestClient) -> int:
    app = admin.post(f"{API}/apps", json={"key": "shop", "name": "商店"})
    assert app.status_code == 201, app.text
    form = admin.post(f"{API}/apps/{app.json()['id']}/forms", json=shipment_form())
    assert form.status_code == 201, form.text
    fid: int = form.json()["id"]
    assert admin.post(f"{API}/forms/{fid}/publish").status_code == 200
    return fid


@pytest.fixture
def visitor(app: FastAPI) -> Iterator[TestClient]:
    """A browser with no account (no cookie, no token)."""
    with make_client(app) as client:
        yield client


def _record(admin: TestClient, form_id: int, **data: Any) -> dict[str, Any]:
    response = admin.post(f"{API}/forms/{form_id}/records", json={"data": data})
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def _link(admin: TestClient, form_id: int, kind: str = "query", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "name": f"{kind} link", **extra}
    if kind == "query":
        body.setdefault("config", QUERY_CONFIG)
    response = admin.post(f"{API}/forms/{form_id}/links", json=body)
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


def _records(database: Database) -> list[Any]:
    with database.read() as conn:
        return list(conn.execute(sa.select(tables.records)).all())


# --- management ---------------------------------------------------------------------------------


def test_a_new_link_shows_its_token_once_and_stores_only_its_hash(
    admin: TestClient, database: Database, form_id: int
) -> None:
    link = _link(admin, form_id, password="open sesame", expires_at="2999-01-01T00:00:00Z")
    token = link["token"]
    assert link["path"] == f"{API}/public/links/{token}"
    # 256 random bits, URL-safe.
    assert re.fullmatch(r"sfl_[A-Za-z0-9_\-]{43}", token)
    assert link["has_password"] is True and link["active"] is True
    listed = admin.get(f"{API}/forms/{form_id}/links").json()
    assert [entry["id"] for entry in listed] == [link["id"]]
    assert "token" not in listed[0] and "password_hash" not in listed[0]
    with database.read() as conn:
        row = conn.execute(sa.select(tables.public_links)).one()
    assert row.token_hash == hash_secret(token)
    assert row.password_hash.startswith("$argon2id$")
    assert token not in str(tuple(row))


def test_managing_links_needs_form_manage(
    client: TestClient, database: Database, admin: TestClient, form_id: int
) -> None:
    link = _link(admin, form_id)
    member = make_user(database, "bob@example.com", name="Bob")
    token, _ = make_token(database, member)
    headers = {"Authorization": f"Bearer {token}"}
    body = {"kind": "fill", "name": "x"}
    assert_error(
        client.post(f"{API}/forms/{form_id}/links", json=body, headers=headers),
        403,
        "permission_denied",
    )
    assert_error(
        client.get(f"{API}/forms/{form_id}/links", headers=headers), 403, "permission_denied"
    )
    assert_error(
        client.post(f"{API}/links/{link['id']}/revoke", headers=headers), 403, "permission_denied"
    )


@pytest.mark.parametrize(
    ("config", "code", "field"),
    [
        ({"match": [{"field": "phone", "match": "suffix", "length": 4}], "show": ["order_no"]},
         "exact_match_required", "config.match"),
        ({"match": [{"field": "nope"}], "show": ["order_no"]}, "unknown_field",
         "config.match[0].field"),
        ({"match": [{"field": "order_no"}], "show": ["nope"]}, "unknown_field", "config.show[0]"),
        ({"match": [{"field": "order_no", "match": "suffix"}], "show": ["order_no"]},
         "value_error", "config.match.0"),
        ({"match": [], "show": ["order_no"]}, "too_short", "config.match"),
        ({"match": [{"field": "order_no"}], "show": ["order_no"], "owner": 1},
         "extra_forbidden", "config.owner"),
    ],
)  # fmt: skip
def test_bad_query_configs_are_refused(
    admin: TestClient, database: Database, form_id: int, config: Any, code: str, field: str
) -> None:
    response = admin.post(
        f"{API}/forms/{form_id}/links", json={"kind": "query", "name": "q", "config": config}
    )
    assert_error(response, 422, code, field)
    with database.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(tables.public_links)).scalar() == 0
        )


def test_a_config_of_the_wrong_shape_is_told_in_the_requests_language(
    admin: TestClient, form_id: int
) -> None:
    body = {"kind": "query", "name": "q", "config": {"match": [], "show": ["order_no"]}}
    for lang, text in (
        ("zh", "格式无效：至少需要 1 项"),
        ("en", "List should have at least 1 item"),
    ):
        response = admin.post(
            f"{API}/forms/{form_id}/links", json=body, headers={"Accept-Language": lang}
        )
        assert_error(response, 422, "too_short", "config.match")
        assert response.json()["detail"][0]["message"].startswith(text), response.text


def test_link_create_and_revoke_are_audited(
    admin: TestClient, database: Database, form_id: int
) -> None:
    link = _link(admin, form_id, kind="fill", password="open sesame")
    assert admin.post(f"{API}/links/{link['id']}/revoke").status_code == 200
    entries = admin.get(f"{API}/audit", params={"action": "link."}).json()["items"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("link.revoke", f"link:{link['id']}"),
        ("link.create", f"link:{link['id']}"),
    ]
    created = entries[1]
    assert created["actor_id"] is not None and created["ip"]
    assert created["detail"]["password"] is True
    # Neither the token nor the password is in the log.
    assert link["token"] not in str(entries) and "open sesame" not in str(entries)


# --- fill links -------------------------------------------------------------------------------


def test_fill_link_creates_a_record_through_the_pipeline_as_nobody(
    admin: TestClient, visitor: TestClient, database: Database, form_id: int
) -> None:
    link = _link(admin, form_id, kind="fill")
    info = visitor.get(link["path"])
    assert info.status_code == 200, info.text
    assert info.json()["kind"] == "fill" and info.json()["form_name"] == "订单进度"
    assert "order_no" in [f["key"] for f in info.json()["fields"]]

    data = {"order_no": "SO-1", "phone": "138 1234 5678", "note": "<p>hi<script>x()</script></p>"}
    response = visitor.post(f"{link['path']}/records", json={"data": data})
    assert response.status_code == 201, response.text
    assert response.json() == {"accepted": True}
    [row] = _records(database)
    assert row.owner_id is None and row.created_by is None
    assert row.stage == "received"
    # The pipeline ran: the phone normalised, the rich text cleaned.
    assert row.data["phone"] == "13812345678"
    assert row.data["note"] == "<p>hi</p>"
    assert "set-cookie" not in response.headers

    # Validation is the pipeline's: a bad value, a missing required field are 422s naming them.
    bad = visitor.post(f"{link['path']}/records", json={"data": {"phone": "12"}})
    assert_error(bad, 422, "invalid_phone", "phone")
    missing = visitor.post(f"{link['path']}/records", json={"data": {"customer": "x"}})
    assert_error(missing, 422, "required", "order_no")
    # The stage and system keys cannot be set through a link either.
    for sneaky in ({"order_no": "SO-2", "stage": "done"}, {"order_no": "SO-2", "owner_id": 1}):
        assert visitor.post(f"{link['path']}/records", json={"data": sneaky}).status_code == 422
    assert len(_records(database)) == 1


def test_a_filled_honeypot_looks_accepted_and_writes_nothing(
    admin: TestClient, visitor: TestClient, database: Database, form_id: int
) -> None:
    link = _link(admin, form_id, kind="fill")
    human = visitor.post(f"{link['path']}/records", json={"data": {"order_no": "SO-1"}})
    bot = visitor.post(
        f"{link['path']}/records",
        json={"data": {"order_no": "SO-2"}, "website": "http://spam.example"},
    )
    assert (
        (bot.status_code, bot.json())
        == (human.status_code, human.json())
        == (
            201,
            {"accepted": True},
        )
    )
    assert [row.data["order_no"] for row in _records(database)] == ["SO-1"]


def test_a_link_of_one_kind_does_not_work_as_the_other(
    admin: TestClient, visitor: TestClient, form_id: int
) -> None:
    fill, query = _link(admin, form_id, kind="fill"), _link(admin, form_id)
    assert_error(visitor.post(f"{fill['path']}/query", json={"values": {}}), 404, "not_found")
    assert_error(
        visitor.post(f"{query['path']}/records", json={"data": {"order_no": "X"}}),
        404,
        "not_found",
    )


# --- query links --------------------------------------------------------------------------------


def _ask(visitor: TestClient, link: dict[str, Any], **values: str) -> Any:
    return visitor.post(f"{link['path']}/query", json={"values": values})


def test_query_link_answers_the_one_exact_match_with_the_chosen_fields(
    admin: TestClient, visitor: TestClient, form_id: int
) -> None:
    record = _record(
        admin,
        form_id,
        order_no="SO-1001",
        phone="13812345678",
        customer="华为",
        note="<p>已发<b>货</b></p>",
        internal="底价 100 万",
    )
    admin.post(
        f"{API}/records/{record['id']}/transitions",
        json={"transition": "ship", "version": record["version"]},
    ).raise_for_status()
    _record(admin, form_id, order_no="SO-1002", phone="13900005678", customer="小米")
    link = _link(admin, form_id)

    info = visitor.get(link["path"]).json()
    assert [f["key"] for f in info["fields"]] == ["order_no", "phone"]

    answer = _ask(visitor, link, order_no="SO-1001", phone="5678")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["fields"] == [
        {"key": "order_no", "label": "订单号", "value": "SO-1001"},
        {"key": "customer", "label": "客户", "value": "华为"},
        {"key": "note", "label": "说明", "value": "已发货"},
    ]
    assert body["stage"] == {"key": "shipped", "name": "已发货"}
    assert [s["key"] for s in body["stages"]] == ["received", "shipped", "done"]
    # Only what the admin chose: no internal note, no phone, no ids.
    assert "底价" not in answer.text and "13812345678" not in answer.text
    assert str(record["id"]) not in re.sub(r"SO-\d+", "", answer.text)


@pytest.mark.parametrize(
    "values",
    [
        {"order_no": "SO-1001", "phone": "5679"},  # wrong last digits
        {"order_no": "SO-1001", "phone": "45678"},  # more digits than the link asks for
        {"order_no": "SO-1001", "phone": "678"},
        {"order_no": "SO-100", "phone": "5678"},  # a prefix of the order number
        {"order_no": "so-1001", "phone": "5678"},  # exact means exact
        {"order_no": "SO-1001x", "phone": "5678"},
        {"order_no": "%", "phone": "5678"},
        {"order_no": "SO-1001"},  # a matcher left out
        {"order_no": "", "phone": ""},
        {},
        {"order_no": "SO-1002", "phone": "5678"},  # another record's order number
        {"order_no": "SO-NONE", "phone": "0000"},  # an order with no phone
    ],
)
def test_anything_but_one_exact_match_is_the_same_not_found(
    admin: TestClient, visitor: TestClient, form_id: int, values: dict[str, str]
) -> None:
    _record(admin, form_id, order_no="SO-1001", phone="13812345678", customer="华为")
    _record(admin, form_id, order_no="SO-1002", phone="13900001234", customer="小米")
    _record(admin, form_id, order_no="SO-NONE", customer="无电话")
    link = _link(admin, form_id)
    response = _ask(visitor, link, **values)
    assert response.status_code == 404
    assert response.json() == {
        "detail": [{"field": "", "code": "not_found", "message": "没有与您输入的内容相符的记录"}]
    }


def test_several_matches_are_no_match(admin: TestClient, visitor: TestClient, form_id: int) -> None:
    _record(admin, form_id, order_no="SO-1", customer="华为", phone="13812345678")
    _record(admin, form_id, order_no="SO-2", customer="华为", phone="13912345678")
    link = _link(
        admin,
        form_id,
        config={
            "match": [{"field": "customer"}, {"field": "phone", "match": "suffix", "length": 4}],
            "show": ["order_no"],
        },
    )
    several = _ask(visitor, link, customer="华为", phone="5678")
    none = _ask(visitor, link, customer="华为", phone="0000")
    assert several.status_code == none.status_code == 404
    assert several.json() == none.json()
    one = _ask(visitor, link, customer="华为", phone="8")  # wrong length: never a match
    assert one.status_code == 404


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("PRAGMA"):  # SQLite's per-connection read-only switch
            return
        if threading.current_thread().name in (search_index.THREAD_NAME, upgrade.THREAD_NAME):
            return  # the server's search indexer or upgrader, woken earlier, not this request
        seen.append(re.sub(r"\s+", " ", statement))

    engine = database.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_found_and_not_found_do_the_same_database_work(
    admin: TestClient, visitor: TestClient, database: Database, form_id: int
) -> None:
    # No enumeration by timing: a hit, a wrong suffix, an unknown order number and an
    # invalid one run the same statements (only the rate-limit bookkeeping differs in values).
    _record(admin, form_id, order_no="SO-1001", phone="13812345678")
    link = _link(admin, form_id)
    _ask(visitor, link, order_no="warm", phone="up")  # the compiled form is cached now
    runs = []
    for values in (
        {"order_no": "SO-1001", "phone": "5678"},
        {"order_no": "SO-1001", "phone": "0000"},
        {"order_no": "SO-9999", "phone": "5678"},
        {"order_no": "", "phone": "x"},
    ):
        with _statements(database) as seen:
            _ask(visitor, link, **values)
        runs.append(seen)
    assert runs[0]
    for run in runs[1:]:
        assert run == runs[0], "\n".join(difflib.unified_diff(runs[0], run, lineterm=""))


def test_expired_and_revoked_links_are_refused(
    admin: TestClient, visitor: TestClient, database: Database, form_id: int
) -> None:
    _record(admin, form_id, order_no="SO-1", phone="13812345678")
    link = _link(admin, form_id)
    assert _ask(visitor, link, order_no="SO-1", phone="5678").status_code == 200

    with database.begin() as conn:
        conn.execute(
            tables.public_links.update().values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    expired = _ask(visitor, link, order_no="SO-1", phone="5678")
    assert_error(expired, 404, "not_found")
    assert_error(visitor.get(link["path"]), 404, "not_found")

    fresh = _link(admin, form_id)
    assert _ask(visitor, fresh, order_no="SO-1", phone="5678").status_code == 200
    revoked = admin.post(f"{API}/links/{fresh['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert_error(_ask(visitor, fresh, order_no="SO-1", phone="5678"), 404, "not_found")
    # Revoking twice: nothing to revoke.
    assert_error(admin.post(f"{API}/links/{fresh['id']}/revoke"), 404, "not_found")
    # An expiry in the past cannot be set.
    response = admin.post(
        f"{API}/forms/{form_id}/links",
        json={"kind": "fill", "name": "x", "expires_at": "2001-01-01T00:00:00Z"},
    )
    assert_error(response, 422, "expires_in_past", "expires_at")


@pytest.mark.parametrize(
    "token",
    ["sfl_" + "A" * 43, "A" * 20, "sfl_" + "A" * 42 + "B"],
)
def test_unknown_tokens_are_not_found(
    admin: TestClient, visitor: TestClient, form_id: int, token: str
) -> None:
    _link(admin, form_id)
    assert_error(visitor.get(f"{API}/public/links/{token}"), 404, "not_found")


def test_a_password_protected_link_needs_its_password(
    admin: TestClient, visitor: TestClient, database: Database, form_id: int
) -> None:
    link = _link(admin, form_id, kind="fill", password="open sesame")
    assert_error(visitor.get(link["path"]), 401, "link_password_required")
    wrong = {"X-Link-Password": "open says me"}
    right = {"X-Link-Password": "open sesame"}
    body = {"data": {"order_no": "SO-1"}}
    assert_error(
        visitor.post(f"{link['path']}/records", json=body, headers=wrong),
        401,
        "link_password_required",
    )
    assert _records(database) == []
    assert visitor.get(link["path"], headers=right).status_code == 200
    assert visitor.post(f"{link['path']}/records", json=body, headers=right).status_code == 201
    assert len(_records(database)) == 1


def test_a_link_is_rate_limited_per_link_and_address(
    app: FastAPI, admin: TestClient, visitor: TestClient, form_id: int
) -> None:
    app.state.link_limiter.max_requests = 3
    link = _link(admin, form_id, password="open sesame")
    other = _link(admin, form_id)
    for _ in range(3):  # password guesses count too
        guess = _ask_with(visitor, link, {"X-Link-Password": "guess"})
        assert guess.status_code == 401
    blocked = _ask_with(visitor, link, {"X-Link-Password": "open sesame"})
    assert_error(blocked, 429, "too_many_requests")
    assert 1 <= int(blocked.headers["Retry-After"]) <= 600
    assert _ask(visitor, other, order_no="x", phone="1234").status_code == 404  # another link


def _ask_with(visitor: TestClient, link: dict[str, Any], headers: dict[str, str]) -> Any:
    return visitor.post(
        f"{link['path']}/query", json={"values": {"order_no": "a", "phone": "1"}}, headers=headers
    )


def test_a_link_dies_with_its_app(admin: TestClient, visitor: TestClient, form_id: int) -> None:
    link = _link(admin, form_id, kind="fill")
    app_id = admin.get(f"{API}/forms/{form_id}").json()["app_id"]
    assert admin.delete(f"{API}/apps/{app_id}").status_code == 204
    gone = visitor.get(link["path"])
    assert gone.json() == {
        "detail": [
            {
                "field": "",
                "code": "not_found",
                "message": "链接不存在，或已被撤销、已过期",
            }
        ]
    }
    assert (
        visitor.post(f"{link['path']}/records", json={"data": {"order_no": "x"}}).status_code == 404
    )


# --- found by a review (session 15) ---


def test_a_deleted_apps_key_can_be_used_again(admin: TestClient) -> None:
    """A deleted app cannot be restored: its key (a template's, the demo's) is free again."""
    made = admin.post(f"{API}/apps", json={"key": "shop", "name": "店"})
    assert made.status_code == 201
    assert admin.post(f"{API}/apps", json={"key": "shop", "name": "店"}).status_code == 409
    assert admin.delete(f"{API}/apps/{made.json()['id']}").status_code == 204
    again = admin.post(f"{API}/apps", json={"key": "shop", "name": "新店"})
    assert again.status_code == 201, again.text
    assert [a["key"] for a in admin.get(f"{API}/apps").json()] == ["shop"]


def _republish(admin, form_id, definition):
    assert admin.put(f"{API}/forms/{form_id}", json=definition).status_code == 200
    assert admin.post(f"{API}/forms/{form_id}/publish").status_code == 200


def _without_order_no():
    d = shipment_form()
    d["fields"] = [f for f in d["fields"] if f["key"] != "order_no"]
    d["title_field"] = "customer"
    return d


def _order_no_multi_select():
    d = shipment_form()
    d["title_field"] = "customer"
    for f in d["fields"]:
        if f["key"] == "order_no":
            f.clear()
            f.update(
                {
                    "key": "order_no",
                    "label": "单号",
                    "type": "multi_select",
                    "options": [{"value": "a", "label": "a"}],
                }
            )
    return d


@pytest.mark.parametrize("changed", [_without_order_no, _order_no_multi_select])
def test_a_query_link_on_a_changed_form_is_the_plain_not_found(admin, visitor, form_id, changed):
    _record(admin, form_id, order_no="SO-1", phone="13812345678", customer="c")
    link = _link(admin, form_id)
    assert _ask(visitor, link, order_no="SO-1", phone="5678").status_code == 200
    _republish(admin, form_id, changed())
    r = _ask(visitor, link, order_no="SO-1", phone="5678")
    assert r.status_code == 404, r.text
    assert r.json()["detail"][0]["code"] == "not_found"


def test_a_query_link_still_answers_when_a_field_it_shows_is_removed(admin, visitor, form_id):
    _record(admin, form_id, order_no="SO-1", phone="13812345678", customer="c", note="<p>n</p>")
    link = _link(admin, form_id)
    assert _ask(visitor, link, order_no="SO-1", phone="5678").status_code == 200
    d = shipment_form()
    d["fields"] = [f for f in d["fields"] if f["key"] != "note"]
    _republish(admin, form_id, d)
    r = _ask(visitor, link, order_no="SO-1", phone="5678")
    assert r.status_code == 200, r.text
    assert [f["key"] for f in r.json()["fields"]] == ["order_no", "customer"]


def test_a_query_link_shows_people_by_name(admin, visitor, form_id, database):
    rep = make_user(database, "rep@example.com", name="王销售")
    d = shipment_form()
    d["fields"].append({"key": "rep", "type": "user", "label": "销售"})
    _republish(admin, form_id, d)
    _record(admin, form_id, order_no="SO-9", phone="13812345678", rep=rep.id)
    config = {**QUERY_CONFIG, "show": ["order_no", "rep"]}
    link = _link(admin, form_id, config=config)
    r = _ask(visitor, link, order_no="SO-9", phone="5678")
    assert r.status_code == 200, r.text
    assert r.json()["fields"][1] == {"key": "rep", "label": "销售", "value": "王销售"}


def test_a_link_with_a_chinese_password_can_be_opened(admin, visitor, form_id):
    """The admin sets the password in a JSON body (any Unicode is accepted); visitors must
    send it in the X-Link-Password header, which HTTP carries as bytes (UTF-8 here, the only
    way a client can send these characters at all)."""
    password = "芝麻开门芝麻开门"
    link = _link(admin, form_id, kind="fill", password=password)
    assert link["has_password"] is True
    r = visitor.get(link["path"], headers={"X-Link-Password": password.encode("utf-8")})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("expires", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_extreme_expiry_is_not_a_500(admin, form_id, expires):
    r = admin.post(
        f"{API}/forms/{form_id}/links", json={"kind": "fill", "name": "x", "expires_at": expires}
    )
    assert r.status_code < 500, r.text


def test_process_stats_extreme_since_is_not_a_500(admin, form_id):
    r = admin.get(
        f"{API}/forms/{form_id}/process-stats", params={"since": "9999-12-31T23:00:00-05:00"}
    )
    assert r.status_code < 500, r.text


def test_fill_info_leaves_out_fields_hidden_in_the_initial_stage(admin, visitor):
    d = shipment_form()
    d["workflow"]["stages"][0]["hidden"] = ["internal"]
    app = admin.post(f"{API}/apps", json={"key": "shop", "name": "商店"}).json()
    fid = admin.post(f"{API}/apps/{app['id']}/forms", json=d).json()["id"]
    assert admin.post(f"{API}/forms/{fid}/publish").status_code == 200
    link = _link(admin, fid, kind="fill")
    sent = visitor.post(
        f"{link['path']}/records", json={"data": {"order_no": "S", "internal": "x"}}
    )
    assert sent.status_code == 422 and sent.json()["detail"][0]["code"] == "unknown_field"
    keys = [f["key"] for f in visitor.get(link["path"]).json()["fields"]]
    assert "internal" not in keys, keys
