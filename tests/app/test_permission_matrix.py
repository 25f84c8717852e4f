"""The permission matrix, generated from the route table (``app.api.ROUTERS`` and the action
each route declares through ``app.permissions.require``), on SQLite and PostgreSQL:

- every route refuses a user without its permission (403; a record they cannot reach is 404),
  and the only routes without one are login and the public-link routes, where the link's token
  is the key (a session opens nothing there);
- a record outside the user's data scope is a 404 on every record route;
- data scopes (own, department with sub-departments, filter on ``CURRENT_USER()``) hold in
  lists, counts and aggregates;
- a hidden field is absent from every output path (reads, lists, search, filters, sorts,
  aggregates, history, form definition and schema, error messages), a read-only field cannot
  be changed, and a stage's hidden fields are hidden in that stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute

from app.api import ROUTERS
from app.permissions import APP_ADMIN_ACTIONS, PLATFORM_ADMIN_ACTIONS, route_action
from runtime.store.database import Database
from runtime.store.tables import users
from tests.app.factories import TestClient, assert_error, grant, make_token, make_user
from tests.app.test_app import PUBLIC_API_ROUTES

API = "/api/v1"

DEAL = {
    "key": "deal",
    "name": "商机",
    "title_field": "title",
    "fields": [
        {"key": "title", "type": "text", "label": "标题", "required": True},
        {"key": "region", "type": "text", "label": "区域"},
        {"key": "secret", "type": "text", "label": "底价说明"},
        {"key": "cost", "type": "number", "label": "成本"},
        {"key": "grade", "type": "select", "label": "等级", "options": ["A", "B"]},
    ],
    "workflow": {
        "stages": [
            {"key": "open", "name": "进行中", "initial": True},
            {"key": "done", "name": "完成", "kind": "done", "hidden": ["region"]},
        ],
        "transitions": [{"key": "finish", "label": "完成", "from": ["open"], "to": "done"}],
    },
}

# Actions every signed-in user has (their outputs are projected instead: see the field tests).
BASELINE = frozenset({"me", "app.view", "form.view", "user.view"})
RECORD_ACTIONS = frozenset(
    {
        "record.view",
        "record.create",
        "record.edit",
        "record.delete",
        "record.restore",
        "record.transition",
        "comment.view",
        "comment.create",
    }
)

BODIES: dict[str, Any] = {
    "record:create": {"data": {"title": "新商机"}},
    "record:bulk": {"records": [{"data": {"title": "批量"}}]},
    "record:query": {},
    "record:aggregate": {},
    "record:transition": {"transition": "finish"},
    "record:update": {"version": 1, "data": {"title": "改"}},
    "record:delete": {"version": 1},
    "record:vote": {"decision": "approve"},
    "record:add_approver": {"user_id": 1},
    "record:transfer_vote": {"user_id": 1},
    "record:reassign": {"user_id": 1},
    "comment:create": {"body": "你好"},
    "app:update": {"name": "改名"},
    "form:create": {**DEAL, "key": "deal2"},
    "form:save": DEAL,
    "permission_set:create": {"name": "x", "preset": "view_all"},
    "permission_set:update": {"name": "x", "preset": "view_all"},
    "link:create": {"kind": "fill", "name": "x"},
    "public:fill": {"data": {"title": "x"}},
    "public:query": {"values": {"title": "x"}},
}
# A well-formed public-link token that is no link's.
NO_SUCH_TOKEN = "n0-such-link-token-" + "x" * 24


@dataclass
class World:
    api: TestClient
    headers: dict[str, dict[str, str]]
    ids: dict[str, int]

    def call(self, who: str, method: str, url: str, body: Any = None) -> Any:
        return self.api.request(method, url, json=body, headers=self.headers[who])


def _user(database: Database, email: str, **attrs: Any) -> tuple[int, dict[str, str]]:
    user = make_user(database, email, name=email.split("@")[0])
    if attrs:
        with database.begin() as conn:
            conn.execute(users.update().where(users.c.id == user.id).values(attributes=attrs))
    token, _ = make_token(database, user)
    return user.id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(client: TestClient, database: Database) -> World:
    admin = make_user(database, "admin@example.com", is_admin=True)
    token, _ = make_token(database, admin)
    client.headers["Authorization"] = f"Bearer {token}"
    api = client
    headers: dict[str, dict[str, str]] = {"admin": {}}
    ids: dict[str, int] = {}
    for who, attrs in (
        ("seller1", {}),
        ("seller2", {}),
        ("manager", {}),
        ("outsider", {}),
        ("viewer", {}),
        ("regional", {"region": "华东"}),
        ("nobody", {}),
        ("other_admin", {}),
        ("app_admin", {}),
    ):
        ids[who], headers[who] = _user(database, f"{who}@example.com", **attrs)

    sales = api.post(f"{API}/departments", json={"name": "销售部"}).json()["id"]
    team = api.post(f"{API}/departments", json={"name": "一组", "parent_id": sales}).json()["id"]
    other = api.post(f"{API}/departments", json={"name": "财务部"}).json()["id"]
    for who, dept in (
        ("seller1", team),
        ("seller2", team),
        ("manager", sales),
        ("outsider", other),
    ):
        assert api.put(f"{API}/departments/{dept}/members/{ids[who]}").status_code == 204
    role = api.post(f"{API}/roles", json={"key": "sales", "name": "销售人员"}).json()["id"]
    for who in ("seller1", "seller2"):
        api.put(f"{API}/roles/{role}/members/{ids[who]}")

    app_id = api.post(f"{API}/apps", json={"key": "crm", "name": "CRM"}).json()["id"]
    form = api.post(f"{API}/apps/{app_id}/forms", json=DEAL).json()["id"]
    assert api.post(f"{API}/forms/{form}/publish").status_code == 200
    other_app = api.post(f"{API}/apps", json={"key": "hr", "name": "HR"}).json()["id"]
    api.put(f"{API}/apps/{other_app}/admins/{ids['other_admin']}")
    api.put(f"{API}/apps/{app_id}/admins/{ids['app_admin']}")

    fields = {"hidden": ["secret", "cost"], "read_only": ["grade"]}
    grant(api, form, [("role", role)], "manage_own", fields=fields)
    # (given to the manager: given to the department, it would reach its sub-departments too)
    grant(
        api, form, [("user", ids["manager"])], None, actions=["view"], scope={"kind": "department"}
    )
    grant(api, form, [("department", other)], "manage_own")
    ids["viewer_set"] = grant(
        api, form, [("user", ids["viewer"])], "view_all", fields={"hidden": ["secret", "cost"]}
    )["id"]
    grant(
        api,
        form,
        [("user", ids["regional"])],
        None,
        actions=["view"],
        scope={
            "kind": "filter",
            "filter": {"field": "region", "op": "eq", "value": {"current_user": "region"}},
        },
    )

    def create(who: str, data: dict[str, Any]) -> int:
        r = api.post(f"{API}/forms/{form}/records", json={"data": data}, headers=headers[who])
        assert r.status_code == 201, r.text
        record_id: int = r.json()["id"]
        return record_id

    ids.update(
        app=app_id,
        other_app=other_app,
        form=form,
        sales=sales,
        team=team,
        role=role,
        r1=create("seller1", {"title": "华为项目", "region": "华东"}),
        r2=create("seller2", {"title": "腾讯项目", "region": "华南"}),
        r_out=create("outsider", {"title": "内部采购", "region": "华东"}),
        r_del=create("seller1", {"title": "作废项目"}),
    )
    # the admin fills what sellers cannot see
    for key in ("r1", "r2"):
        patched = api.patch(
            f"{API}/records/{ids[key]}",
            json={"version": 1, "data": {"secret": "机密底价九折", "cost": 900}},
        )
        assert patched.status_code == 200, patched.text
    api.request("DELETE", f"{API}/records/{ids['r_del']}", json={"version": 1})
    link = api.post(f"{API}/forms/{form}/links", json={"kind": "fill", "name": "公开填报"})
    assert link.status_code == 201, link.text
    ids["link_id"] = link.json()["id"]
    return World(api, headers, ids)


def _routes() -> list[tuple[str, APIRoute]]:
    return [
        (method, route)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]


def _url(route: APIRoute, values: dict[str, Any]) -> str:
    return API + re.sub(r"\{([^}]+)\}", lambda m: str(values[m.group(1)]), route.path)


def test_every_route_refuses_a_user_without_its_permission(world: World) -> None:
    ids = world.ids
    checked = 0
    for method, route in _routes():
        action = route_action(route)
        if action is None:
            # no require(): only login and the public links, whose token is the key
            assert (method, API + route.path) in PUBLIC_API_ROUTES, (method, route.path)
            if "{token}" in route.path:
                url = _url(route, {"token": NO_SUCH_TOKEN})
                body = BODIES.get(route.name or "", {})
                for who in ("admin", "app_admin", "viewer"):  # a session opens nothing
                    assert_error(world.call(who, method, url, body), 404, "not_found")
            continue
        if action in BASELINE:
            continue  # what every signed-in user may do
        values = {
            "app_id": ids["app"],
            "form_id": ids["form"],
            "record_id": ids["r_del"]
            if route.name in ("record:restore", "record:purge")
            else ids["r1"],
            "user_id": ids["seller2"],
            "group_id": ids["team"],
            "department_id": ids["team"],
            "role_id": ids["role"],
            "set_id": ids["viewer_set"],
            "link_id": ids["link_id"],
        }
        url = _url(route, values)
        body = BODIES.get(route.name or "", {})
        if action in PLATFORM_ADMIN_ACTIONS:
            # not even an admin of this app
            assert_error(world.call("app_admin", method, url, body), 403, "permission_denied")
        elif action in APP_ADMIN_ACTIONS:
            # not a user with every data permission, nor another app's admin
            for who in ("seller1", "other_admin"):
                response = world.call(who, method, url, body)
                assert response.status_code in (403, 404), (route.path, who, response.text)
                if "{record_id}" not in route.path:
                    assert_error(response, 403, "permission_denied")
        elif action in RECORD_ACTIONS and "{record_id}" in route.path:
            # a user with no permission on the form: the record does not exist for them
            assert_error(world.call("nobody", method, url, body), 404, "not_found")
        elif action in RECORD_ACTIONS:
            assert_error(world.call("nobody", method, url, body), 403, "permission_denied")
        else:
            pytest.fail(f"{method} {route.path}: classify action {action!r} in this test")
        checked += 1
    assert checked >= 30


def test_a_record_outside_the_scope_is_404_on_every_record_route(world: World) -> None:
    ids = world.ids
    record_routes = [(m, r) for m, r in _routes() if "{record_id}" in r.path]
    assert len(record_routes) >= 9
    for method, route in record_routes:
        deleted = route.name in ("record:restore", "record:purge")
        url = _url(route, {"record_id": ids["r_del"] if deleted else ids["r1"]})
        body = BODIES.get(route.name or "", {})
        # seller2 owns other records of the same form; r1 is seller1's; the outsider's
        # department set reaches only its own records; another app's admin reaches nothing here
        users_ = ("seller2", "outsider", "other_admin", "regional" if deleted else "nobody")
        if route_action(route) in APP_ADMIN_ACTIONS:
            users_ = ("other_admin",)  # the others are refused the route itself (403)
        for who in users_:
            assert_error(world.call(who, method, url, body), 404, "not_found")
    # and the owner does reach it (so the 404 above is the scope, not the record)
    assert world.call("seller1", "GET", f"{API}/records/{ids['r1']}").status_code == 200
    restored = world.call("seller1", "POST", f"{API}/records/{ids['r_del']}/restore")
    assert restored.status_code == 200, restored.text
    # a transition naming no roles or people is for those who may edit the record
    assert (
        world.call("viewer", "GET", f"{API}/records/{ids['r1']}").json()["available_transitions"]
        == []
    )
    assert_error(
        world.call(
            "viewer", "POST", f"{API}/records/{ids['r1']}/transitions", {"transition": "finish"}
        ),
        403,
        "permission_denied",
    )
    # seen but not editable: the manager's department set grants view only
    assert_error(
        world.call("manager", "PATCH", f"{API}/records/{ids['r1']}", BODIES["record:update"]),
        403,
        "permission_denied",
    )


def _titles(world: World, who: str, body: dict[str, Any] | None = None) -> list[str]:
    r = world.call(who, "POST", f"{API}/forms/{world.ids['form']}/records/query", body or {})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == len(r.json()["items"])
    return sorted(i["data"]["title"] for i in r.json()["items"])


def test_data_scopes_in_lists_counts_and_aggregates(world: World) -> None:
    assert _titles(world, "seller1") == ["华为项目"]
    assert _titles(world, "seller2") == ["腾讯项目"]
    # the manager's department includes the sellers' sub-department, not finance
    assert _titles(world, "manager") == ["华为项目", "腾讯项目"]
    assert _titles(world, "outsider") == ["内部采购"]
    # region = CURRENT_USER().region
    assert _titles(world, "regional") == ["内部采购", "华为项目"]
    assert _titles(world, "viewer") == ["内部采购", "华为项目", "腾讯项目"]
    assert _titles(world, "admin") == ["内部采购", "华为项目", "腾讯项目"]
    url = f"{API}/forms/{world.ids['form']}/records/aggregate"
    counts = {
        who: world.call(who, "POST", url, {}).json()["groups"][0]["values"]["count"]
        for who in ("seller1", "manager", "viewer")
    }
    assert counts == {"seller1": 1, "manager": 2, "viewer": 3}
    # a filter cannot widen the scope
    wide = {"filter": {"field": "owner", "op": "eq", "value": world.ids["seller2"]}}
    assert _titles(world, "seller1", wide) == []


def test_a_user_without_the_attribute_a_filter_scope_names_sees_nothing(
    world: World, database: Database
) -> None:
    with database.begin() as conn:
        conn.execute(
            users.update().where(users.c.id == world.ids["regional"]).values(attributes=None)
        )
    assert _titles(world, "regional") == []


def _detail_codes(response: Any) -> list[tuple[str, str, str]]:
    return [(e["field"], e["code"], e["message"]) for e in response.json()["detail"]]


def test_hidden_fields_are_absent_from_every_output(world: World) -> None:
    ids, form = world.ids, world.ids["form"]
    hidden = {"secret", "cost"}
    r1 = f"{API}/records/{ids['r1']}"

    # record reads (and their ETag'd detail), lists, and what writes answer
    assert not hidden & set(world.call("viewer", "GET", r1).json()["data"])
    assert world.call("admin", "GET", r1).json()["data"]["secret"] == "机密底价九折"
    items = world.call("viewer", "POST", f"{API}/forms/{form}/records/query", {}).json()["items"]
    assert items and all(not hidden & set(i["data"]) for i in items)
    own = world.call("seller1", "PATCH", r1, {"version": 2, "data": {"title": "华为项目二期"}})
    assert own.status_code == 200, own.text
    assert not hidden & set(own.json()["data"])
    created = world.call("seller1", "POST", f"{API}/forms/{form}/records", BODIES["record:create"])
    assert created.status_code == 201 and not hidden & set(created.json()["data"])
    # the current record a stale write answers with
    stale = world.call("seller1", "PATCH", r1, {"version": 1, "data": {"title": "x"}})
    assert stale.status_code == 409 and not hidden & set(stale.json()["current"]["data"])

    # filters, sorts, fields, group-bys and metrics name it as an unknown field — exactly as
    # for a field that never existed (no probing by filtering)
    query = f"{API}/forms/{form}/records/query"
    aggregate = f"{API}/forms/{form}/records/aggregate"
    probes = [
        (query, lambda k: {"filter": {"field": k, "op": "contains", "value": "机密"}}),
        (query, lambda k: {"sort": [{"field": k, "dir": "asc"}]}),
        (query, lambda k: {"fields": ["title", k]}),
        (aggregate, lambda k: {"group_by": [{"field": k}]}),
        (aggregate, lambda k: {"metrics": [{"op": "distinct", "field": k}]}),
    ]
    for url, body in probes:
        refused = world.call("viewer", "POST", url, body("secret"))
        unknown = world.call("viewer", "POST", url, body("no_such_field"))
        assert refused.status_code == unknown.status_code == 422, refused.text
        assert [(f, c, m.replace("secret", "K")) for f, c, m in _detail_codes(refused)] == [
            (f, c, m.replace("no_such_field", "K")) for f, c, m in _detail_codes(unknown)
        ]
        assert world.call("admin", "POST", url, body("secret")).status_code == 200

    # search does not match on hidden text, but still on what the user sees
    assert _titles(world, "viewer", {"search": "机密底价"}) == []
    assert _titles(world, "viewer", {"search": "九折"}) == []
    assert _titles(world, "admin", {"search": "机密底价"}) == ["华为项目二期", "腾讯项目"]
    assert _titles(world, "viewer", {"search": "腾讯"}) == ["腾讯项目"]

    # history diffs
    history = world.call("viewer", "GET", f"{r1}/history").json()
    assert history and all(not hidden & set(h["diff"]) for h in history)
    assert "secret" in world.call("admin", "GET", f"{r1}/history").json()[1]["diff"]
    # comments carry no record values
    world.call("viewer", "POST", f"{r1}/comments", BODIES["comment:create"])
    comments = world.call("viewer", "GET", f"{r1}/comments").json()
    assert comments and "机密" not in str(comments)

    # the form definition and the record schema
    draft = world.call("viewer", "GET", f"{API}/forms/{form}").json()["draft"]
    assert not hidden & {f["key"] for f in draft["fields"]}
    listed = world.call("viewer", "GET", f"{API}/apps/{ids['app']}/forms").json()
    assert not hidden & {f["key"] for f in listed[0]["draft"]["fields"]}
    schema = world.call("viewer", "GET", f"{API}/forms/{form}/schema").json()
    assert not hidden & set(schema["properties"])
    assert "secret" in world.call("admin", "GET", f"{API}/forms/{form}/schema").json()["properties"]

    # error messages: writing it is an unknown field, like a field that does not exist
    url = f"{API}/forms/{form}/records"
    wrote = world.call("seller1", "POST", url, {"data": {"title": "t", "secret": "x"}})
    other = world.call("seller1", "POST", url, {"data": {"title": "t", "zzz": "x"}})
    assert_error(wrote, 422, "unknown_field", "secret")
    assert [m.replace("secret", "K") for _, _, m in _detail_codes(wrote)] == [
        m.replace("zzz", "K") for _, _, m in _detail_codes(other)
    ]
    assert "底价说明" not in wrote.text


def test_read_only_fields_and_stage_field_permissions(world: World) -> None:
    ids = world.ids
    r1 = f"{API}/records/{ids['r1']}"
    refused = world.call("seller1", "PATCH", r1, {"version": 2, "data": {"grade": "A"}})
    assert_error(refused, 422, "read_only_field", "grade")
    assert "等级" in refused.json()["detail"][0]["message"]
    created = world.call(
        "seller1",
        "POST",
        f"{API}/forms/{ids['form']}/records",
        {"data": {"title": "t", "grade": "A"}},
    )
    assert_error(created, 422, "read_only_field", "grade")
    # unchanged values may be sent back as read
    same = world.call(
        "seller1", "PATCH", r1, {"version": 2, "data": {"title": "新", "grade": None}}
    )
    assert same.status_code == 200, same.text
    # the app admin may write it
    assert (
        world.call("app_admin", "PATCH", r1, {"version": 3, "data": {"grade": "A"}}).status_code
        == 200
    )

    # in stage "done" the region is hidden from everyone but admins
    moved = world.call("seller1", "POST", f"{r1}/transitions", {"transition": "finish"})
    assert moved.status_code == 200, moved.text
    assert "region" not in moved.json()["data"]
    assert "region" not in world.call("viewer", "GET", r1).json()["data"]
    assert world.call("admin", "GET", r1).json()["data"]["region"] == "华东"
    r2 = world.call("viewer", "GET", f"{API}/records/{ids['r2']}").json()
    assert r2["data"]["region"] == "华南"  # still open: shown
    items = world.call("viewer", "POST", f"{API}/forms/{ids['form']}/records/query", {}).json()[
        "items"
    ]
    by_stage = {i["stage"]: i["data"] for i in items if i["id"] in (ids["r1"], ids["r2"])}
    assert "region" not in by_stage["done"] and "region" in by_stage["open"]
    # a field some stage hides cannot be filtered on (its value in that stage would leak)
    assert_error(
        world.call(
            "viewer",
            "POST",
            f"{API}/forms/{ids['form']}/records/query",
            {"filter": {"field": "region", "op": "eq", "value": "华东"}},
        ),
        422,
        "unknown_field",
        "filter.conditions[0].field",
    )


def test_permission_set_changes_take_effect_at_once_and_are_audited(
    world: World, database: Database
) -> None:
    from runtime.store.tables import audit_log

    ids = world.ids
    url = f"{API}/forms/{ids['form']}/permission-sets/{ids['viewer_set']}"
    assert _titles(world, "viewer")
    narrowed = world.api.put(
        url,
        json={
            "name": "只看自己",
            "actions": ["view"],
            "scope": {"kind": "own"},
            "members": [{"kind": "user", "id": ids["viewer"]}],
        },
    )
    assert narrowed.status_code == 200, narrowed.text
    assert _titles(world, "viewer") == []
    bad = world.api.put(
        url,
        json={
            "name": "x",
            "actions": ["view"],
            "scope": {"kind": "filter", "filter": {"field": "nope", "op": "eq", "value": 1}},
            "fields": {"hidden": ["missing"]},
            "members": [{"kind": "role", "id": 999999}],
        },
    )
    assert bad.status_code == 422
    assert {e["code"] for e in bad.json()["detail"]} == {"unknown_field", "unknown_role"}
    assert world.api.delete(url).status_code == 204
    assert_error(
        world.call("viewer", "POST", f"{API}/forms/{ids['form']}/records/query", {}),
        403,
        "permission_denied",
    )
    with database.read() as conn:
        actions = (
            conn.execute(
                sa.select(audit_log.c.action).where(
                    audit_log.c.target == f"permission_set:{ids['viewer_set']}"
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["permission_set.create", "permission_set.update", "permission_set.delete"]
