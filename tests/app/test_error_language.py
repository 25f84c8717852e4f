"""Every error message in the request's language: ``Accept-Language`` (zh or en), else
``STAGEFORM_DEFAULT_LANGUAGE``. The ``code`` never changes with the language."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from builder.i18n import known_codes, translate
from runtime.actor import Actor
from runtime.errors import (
    ConflictError,
    DatabaseBusyError,
    InvalidQueryError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
)
from runtime.permissions import PRESETS
from runtime.search_text import MAX_SEARCH_LENGTH, MAX_SEARCH_WORDS
from runtime.services import Services
from runtime.store.database import Database
from tests.app.factories import TestClient, assert_error, make_client, make_token, make_user

# Languages do not depend on the database: one backend is enough.
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


def message(response: Any, status: int, code: str, field: str = "") -> str:
    text: str = assert_error(response, status, code, field)["detail"][0]["message"]
    return text


@pytest.fixture
def raising(app: FastAPI) -> Iterator[tuple[TestClient, dict[str, Exception]]]:
    state: dict[str, Exception] = {}

    @app.get("/boom")
    def boom() -> None:
        raise state["error"]

    with make_client(app) as client:
        yield client, state


@SQLITE
@pytest.mark.parametrize(
    ("error", "status", "code", "zh", "en"),
    [
        (NotFoundError("record", 7), 404, "not_found", "记录 7 不存在", "record 7 not found"),
        (
            NotFoundError("permission set", 2),
            404,
            "not_found",
            "权限组 2 不存在",
            "permission set 2 not found",
        ),
        (
            StaleVersionError(3, {"id": 1}),
            409,
            "stale_version",
            "记录在版本 3 之后已被修改，请重新加载后再试",
            "the record changed since version 3; reload and try again",
        ),
        (
            ConflictError(
                "an app with key 'crm' exists", code="app_key_taken", params={"key": "crm"}
            ),
            409,
            "app_key_taken",
            "键为“crm”的应用已存在",
            "an app with key 'crm' exists",
        ),
        (
            ConflictError("x", code="form_key_taken", params={"key": "leads"}),
            409,
            "form_key_taken",
            "该应用已有键为“leads”的表单",
            "the app has a form with key 'leads'",
        ),
        (
            ConflictError("x", code="form_key_changed", params={}),
            409,
            "form_key_changed",
            "表单的键不能修改",
            "a form's key cannot change",
        ),
        (
            ConflictError("x", code="publish_conflict", params={}),
            409,
            "publish_conflict",
            "表单刚刚已被他人发布",
            "the form was published by someone else meanwhile",
        ),
        (
            DatabaseBusyError(),
            503,
            "database_busy",
            "数据库繁忙；未写入任何内容，请重试",
            "the database is busy; nothing was written, please retry",
        ),
        (
            PermissionDeniedError("approval.decide", reason="not_an_approver"),
            403,
            "permission_denied",
            "你不是本轮审批的审批人",
            "you are not an approver of this round",
        ),
        (
            PermissionDeniedError("form.manage"),
            403,
            "permission_denied",
            "无权执行：form.manage",
            "not allowed: form.manage",
        ),
        # Without params a ConflictError's text is shown as it was raised (already translated).
        (
            ConflictError("已被处理", code="already_decided"),
            409,
            "already_decided",
            "已被处理",
            "已被处理",
        ),
    ],
)
def test_engine_errors_answer_in_the_requests_language(
    raising: tuple[TestClient, dict[str, Exception]],
    error: Exception,
    status: int,
    code: str,
    zh: str,
    en: str,
) -> None:
    client, state = raising
    state["error"] = error
    assert message(client.get("/boom", headers=ZH), status, code) == zh
    assert message(client.get("/boom", headers=EN), status, code) == en
    # No Accept-Language: the default language (zh unless configured).
    assert message(client.get("/boom"), status, code) == zh


@SQLITE
def test_a_validation_error_of_a_type_without_a_translation_keeps_pydantics_text(
    raising: tuple[TestClient, dict[str, Exception]],
) -> None:
    from fastapi.exceptions import RequestValidationError

    client, state = raising
    rare = {"type": "uuid_parsing", "loc": ("query", "x"), "msg": "Input should be a valid UUID"}
    state["error"] = RequestValidationError([rare])
    got = client.get("/boom", headers=ZH)
    assert message(got, 422, "uuid_parsing", "x") == "Input should be a valid UUID"


@SQLITE
def test_the_configured_default_language_applies_without_accept_language(
    tmp_path: Path, database: Database
) -> None:
    settings = Settings(data_dir=tmp_path / "d", secret_key="k", default_language="en")
    with make_client(create_app(settings, database=database)) as client:
        response = client.get("/api/v1/auth/me")
        assert message(response, 401, "not_authenticated") == "log in or send an API token"
        response = client.get("/api/v1/auth/me", headers=ZH)
        assert message(response, 401, "not_authenticated") == "请登录或提供 API 令牌"


@SQLITE
def test_authentication_errors_answer_in_the_requests_language(
    client: TestClient, database: Database
) -> None:
    me = "/api/v1/auth/me"
    assert message(client.get(me, headers=ZH), 401, "not_authenticated") == "请登录或提供 API 令牌"
    assert message(client.get(me, headers=EN), 401, "not_authenticated") == (
        "log in or send an API token"
    )
    bad = {"Authorization": "Bearer sf_not_a_real_token_at_all_000000"}
    assert message(client.get(me, headers={**bad, **ZH}), 401, "not_authenticated") == (
        "API 令牌无效或已被吊销"
    )
    malformed = {"Authorization": "Basic abc"}
    assert "Bearer" in message(
        client.get(me, headers={**malformed, **ZH}), 401, "not_authenticated"
    )
    make_user(database, "zoe@example.com")
    login = "/api/v1/auth/login"
    wrong = {"email": "zoe@example.com", "password": "not her password"}
    assert message(client.post(login, json=wrong, headers=ZH), 401, "invalid_credentials") == (
        "邮箱或密码错误"
    )
    assert message(client.post(login, json=wrong, headers=EN), 401, "invalid_credentials") == (
        "wrong e-mail or password"
    )


@pytest.fixture
def auth(database: Database) -> dict[str, str]:
    """The headers of an administrator's API token."""
    token, _ = make_token(database, make_user(database, "amy@example.com", is_admin=True))
    return {"Authorization": f"Bearer {token}"}


@SQLITE
def test_framework_and_validation_errors_answer_in_the_requests_language(
    client: TestClient, auth: dict[str, str]
) -> None:
    assert message(client.get("/api/v1/no/such/route", headers=ZH), 404, "not_found") == "未找到"
    assert message(client.get("/api/v1/no/such/route", headers=EN), 404, "not_found") == (
        "not found"
    )
    assert message(client.delete("/api/v1/auth/login", headers=ZH), 405, "method_not_allowed") == (
        "不允许的请求方法"
    )
    login = "/api/v1/auth/login"
    assert message(client.post(login, json={}, headers=ZH), 422, "missing", "email") == "缺少此项"
    assert message(client.post(login, json={}, headers=EN), 422, "missing", "email") == (
        "Field required"
    )
    assert message(client.post(login, json={"email": 4, "password": "x"}, headers=ZH), 422,
                   "string_type", "email") == "应为字符串"  # fmt: skip
    broken = client.post(
        login, content=b'{"email": ', headers={**ZH, "Content-Type": "application/json"}
    )
    assert message(broken, 422, "json_invalid").startswith("JSON 格式错误，位置 ")
    extra = {"key": "crm", "name": "CRM", "x": 1}
    apps = client.post("/api/v1/apps", json=extra, headers={**auth, **ZH})
    assert message(apps, 422, "extra_forbidden", "x") == "不允许的属性"
    stats = "/api/v1/forms/1/process-stats?since=2026-01-01T00:00:00"  # no time zone
    naive = client.get(stats, headers={**auth, **ZH})
    assert message(naive, 422, "timezone_aware", "since") == "应带时区（如 +08:00 或 Z）"
    naive = client.get(stats, headers={**auth, **EN})
    assert message(naive, 422, "timezone_aware", "since") == "Input should have timezone info"
    too_big = client.post(
        login, content=b"x" * (11 * 1024 * 1024), headers={**ZH, "Content-Type": "application/json"}
    )
    assert message(too_big, 413, "body_too_large") == f"请求体超过 {10 * 1024 * 1024} 字节"
    bad_length = client.post(login, content=b"{}", headers={**ZH, "Content-Length": "x1"})
    assert message(bad_length, 400, "bad_request") == "Content-Length 无效"


@SQLITE
def test_a_taken_key_is_told_in_the_requests_language(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = {"key": "crm", "name": "CRM"}
    assert client.post("/api/v1/apps", json=body, headers=auth).status_code == 201
    again = client.post("/api/v1/apps", json=body, headers={**auth, **ZH})
    assert message(again, 409, "app_key_taken") == "键为“crm”的应用已存在"
    again = client.post("/api/v1/apps", json=body, headers={**auth, **EN})
    assert message(again, 409, "app_key_taken") == "an app with key 'crm' exists"


def _calls(package: str, name: str) -> Iterator[tuple[str, ast.Call]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == name:
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_message_key_the_app_raises_has_both_languages() -> None:
    """An ApiError's key (or code), a not_authenticated reason, a ConflictError.coded code
    and the kind a NotFoundError names must be in the catalog: a missing one would
    show the bare key (or, for a kind, its English name)."""
    keys: dict[str, str] = {"auth_required": "app/auth.py: not_authenticated()"}
    for where, call in _calls("app", "ApiError"):
        key = _keyword(call, "key")
        if key is None:
            key = call.args[1]
        if isinstance(key, ast.Name) and key.id == "key":
            continue  # not_authenticated(key): its callers' reasons are collected below
        assert isinstance(key, ast.Constant), f"{where}: the key must be a literal"
        keys[str(key.value)] = where
    for where, call in _calls("app", "not_authenticated"):
        if call.args:
            assert isinstance(call.args[0], ast.Constant), where
            keys[str(call.args[0].value)] = where
    for where, call in _calls("runtime", "coded"):  # ConflictError.coded(code, **params)
        code = call.args[0]
        assert isinstance(code, ast.Constant), where
        keys[str(code.value)] = where
    for where, call in _calls("runtime", "ConflictError"):
        assert _keyword(call, "params") is None, f"{where}: use ConflictError.coded"
    for package in ("app", "runtime"):
        for where, call in _calls(package, "NotFoundError"):
            kind = call.args[0]
            assert isinstance(kind, ast.Constant), where
            keys["kind_" + str(kind.value).replace(" ", "_")] = where
    assert len(keys) > 25, keys
    missing = {k: w for k, w in keys.items() if k not in known_codes()}
    assert not missing, missing
    for key in keys:
        assert translate(key, "zh") != translate(key, "en") or key.startswith("http_"), key


def _crm(api: TestClient, auth: dict[str, str]) -> int:
    """The example customer form, published; its id."""
    from tests.builder.factories import customer_form

    app_id = api.post("/api/v1/apps", json={"key": "crm", "name": "CRM"}, headers=auth).json()["id"]
    form = api.post(f"/api/v1/apps/{app_id}/forms", json=customer_form(), headers=auth)
    form_id: int = form.json()["id"]
    assert api.post(f"/api/v1/forms/{form_id}/publish", headers=auth).status_code == 200
    return form_id


def _messages(response: Any, status: int = 422) -> dict[str, str]:
    assert response.status_code == status, response.text
    return {d["field"]: d["message"] for d in response.json()["detail"]}


@SQLITE
def test_query_errors_answer_in_the_requests_language(
    client: TestClient, auth: dict[str, str], database: Database
) -> None:
    """The builder's checks of a query (unknown fields, operators) were always in Chinese and
    the engine's own (limit, sort, fields, search) always in English."""
    form_id = _crm(client, auth)
    url = f"/api/v1/forms/{form_id}/records/query"
    body = {
        "filter": {"and": [{"field": "nope", "op": "eq", "value": 1}]},
        "sort": [{"field": "nope"}],
        "fields": ["nope"],
    }
    for lang, headers in (("zh", ZH), ("en", EN)):
        got = _messages(client.post(url, json=body, headers={**auth, **headers}))
        assert got == {
            "filter.conditions[0].field": translate("unknown_field", lang, key="nope"),
            "sort[0].field": translate("unknown_field", lang, key="nope"),
            "fields[0]": translate("unknown_field", lang, key="nope"),
        }, lang
    got = _messages(client.post(url, json={"fields": ["nope"]}, headers={**auth, **EN}))
    assert got == {"fields[0]": "field 'nope' does not exist"}
    # The engine's own search checks (the API's schema refuses a long text before them).
    searches = {
        "search_too_long": ("长" * 300, {"max": MAX_SEARCH_LENGTH}),
        "search_too_many_words": (" ".join(f"词{i}" for i in range(30)), {"max": MAX_SEARCH_WORDS}),
        "search_nul": ("a\x00b", {}),
    }
    for entry, (text, params) in searches.items():
        for lang in ("zh", "en"):
            actor = Actor(user_id=None, is_admin=True, lang=lang)
            with database.read() as conn, pytest.raises(InvalidQueryError) as refused:
                Services().query(conn, actor, form_id, {"search": text})
            assert [(e.field, e.code, e.message) for e in refused.value.errors] == [
                ("search", "invalid_search", translate(entry, lang, **params))
            ], entry
    # A body of the wrong shape, in-process (over HTTP the API's schema refuses it first).
    with database.read() as conn, pytest.raises(InvalidQueryError) as refused:
        Services().query(conn, Actor(None, is_admin=True), form_id, {"filter": {"and": "x"}})
    ((code, message),) = [(e.code, e.message) for e in refused.value.errors]
    # "invalid_shape" around pydantic's "v_missing"
    assert (code, message) == ("invalid_filter", "格式无效：缺少此项")
    with database.read() as conn, pytest.raises(InvalidQueryError) as refused:
        Services().query(conn, Actor(None, is_admin=True, lang="en"), form_id, {"fields": "name"})
    assert [(e.code, e.message) for e in refused.value.errors] == [
        ("invalid_fields", "a list of field keys")
    ]


@SQLITE
def test_admin_checks_answer_in_the_requests_language(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Comments, users' groups, departments and public links' settings."""
    form_id = _crm(client, auth)
    record = client.post(
        f"/api/v1/forms/{form_id}/records", json={"data": {"name": "华为"}}, headers=auth
    )
    comments = f"/api/v1/records/{record.json()['id']}/comments"
    for lang, headers in (("zh", ZH), ("en", EN)):
        h = {**auth, **headers}
        empty = client.post(comments, json={"body": "  "}, headers=h)
        assert _messages(empty) == {"body": translate("comment_empty", lang)}
        nul = client.post(comments, json={"body": "a\x00b"}, headers=h)
        assert _messages(nul) == {"body": translate("nul_not_stored", lang)}
        user = {"email": f"{lang}@example.com", "name": "X", "role_ids": [999]}
        assert _messages(client.post("/api/v1/users", json=user, headers=h)) == {
            "role_ids": translate("unknown_role", lang, value=999)
        }
        link = {
            "kind": "query",
            "name": "查询",
            "config": {"match": [{"field": "budget"}], "show": ["name"]},
        }
        got = _messages(client.post(f"/api/v1/forms/{form_id}/links", json=link, headers=h))
        assert got == {
            "config.match[0].field": translate("field_not_matchable", lang, key="budget")
        }
        suffix_only = {
            "kind": "query",
            "name": "查询",
            "config": {
                "match": [{"field": "name", "match": "suffix", "length": 2}] * 2,
                "show": ["name"],
            },
        }
        got = _messages(client.post(f"/api/v1/forms/{form_id}/links", json=suffix_only, headers=h))
        assert got == {
            "config.match": translate("exact_match_required", lang),
            "config.match[1].field": translate("duplicate_field", lang, key="name"),
        }
        preset = {"name": "x", "preset": "nope", "members": []}
        got = _messages(
            client.post(f"/api/v1/forms/{form_id}/permission-sets", json=preset, headers=h)
        )
        assert got == {"preset": translate("unknown_preset", lang, presets=", ".join(PRESETS))}
        past = {"kind": "fill", "name": "填写", "expires_at": "2020-01-01T00:00:00Z"}
        got = _messages(client.post(f"/api/v1/forms/{form_id}/links", json=past, headers=h))
        assert got == {"expires_at": translate("expires_in_past", lang)}
    assert _messages(client.post(comments, json={"body": " "}, headers={**auth, **ZH})) == {
        "body": "评论内容不能为空"
    }
    top = client.post("/api/v1/departments", json={"name": "销售部"}, headers=auth).json()
    sub = client.post(
        "/api/v1/departments", json={"name": "华东", "parent_id": top["id"]}, headers=auth
    ).json()
    cycle = client.patch(
        f"/api/v1/departments/{top['id']}", json={"parent_id": sub["id"]}, headers={**auth, **ZH}
    )
    assert _messages(cycle) == {
        "parent_id": "部门不能放在自己或自己的下级部门之下"
    }  # department_cycle


@SQLITE
def test_work_list_checks_answer_in_the_actors_language(database: Database) -> None:
    user = make_user(database, "ann@example.com")
    for lang in ("zh", "en"):
        with database.read() as conn, pytest.raises(InvalidQueryError) as refused:
            Services().my_tasks(conn, Actor(user_id=user.id, lang=lang), box="nope")
        (error,) = refused.value.errors
        assert (error.code, error.message) == (
            "invalid_box",
            translate("invalid_box", lang, boxes="todo, approvals, started, handled, cc"),
        )
        with database.read() as conn, pytest.raises(InvalidQueryError) as refused:
            Services().my_tasks(conn, Actor(user_id=user.id, lang=lang), limit=0)
        (error,) = refused.value.errors
        assert (error.code, error.message) == (
            "invalid_limit",
            {"zh": "应为 1 到 200 之间的整数", "en": "a whole number from 1 to 200"}[lang],
        )
