"""Approvals, withdraw and reassignment over HTTP, and the approvals work list; on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from runtime.store.database import Database
from tests.app.factories import (
    TestClient,
    assert_error,
    grant,
    make_client,
    make_token,
    make_user,
)
from tests.runtime.workflow_forms import STAFF_PRESETS, expense_form

STAFF = ("owner", "a", "b", "c", "stranger")


class Team:
    def __init__(self, client: TestClient, database: Database, app: FastAPI) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        for who in ("admin", *STAFF):
            user = make_user(database, f"{who}@example.com", is_admin=who == "admin", name=who)
            self.tokens[who], _ = make_token(database, user)
            self.ids[who] = user.id
        self.admin = make_client(app, headers={"Authorization": f"Bearer {self.tokens['admin']}"})

    def call(self, who: str, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.request(method, f"/api/v1{url}", headers=headers, **kwargs)

    def ok(self, who: str, method: str, url: str, **kwargs: Any) -> Any:
        response = self.call(who, method, url, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def box(self, who: str, box: str) -> list[int]:
        page = self.ok(who, "GET", "/me/tasks", params={"box": box})
        return [t["record_id"] for t in page["items"]]


@pytest.fixture
def team(client: TestClient, database: Database, app: FastAPI) -> Team:
    return Team(client, database, app)


def _form(team: Team, approval: dict[str, Any]) -> int:
    app = team.ok("admin", "POST", "/apps", json={"key": "expenses", "name": "报销"})
    form = team.ok("admin", "POST", f"/apps/{app['id']}/forms", json=expense_form(approval))
    team.ok("admin", "POST", f"/forms/{form['id']}/publish")
    form_id: int = form["id"]
    for preset in STAFF_PRESETS:  # the staff's sets, as in the runtime tests of this form
        grant(team.admin, form_id, [("user", team.ids[who]) for who in STAFF], preset)
    return form_id


def _submitted(team: Team, form_id: int) -> int:
    rec = team.ok("owner", "POST", f"/forms/{form_id}/records", json={"data": {"title": "差旅"}})
    moved = team.ok(
        "owner", "POST", f"/records/{rec['id']}/transitions", json={"transition": "submit"}
    )
    assert moved["stage"] == "review"
    record_id: int = rec["id"]
    return record_id


def test_countersign_with_an_added_approver(team: Team) -> None:
    ids = team.ids
    form_id = _form(
        team, {"policy": "all", "approvers": {"users": [ids["a"], ids["b"]]}, "reject_to": "draft"}
    )
    rid = _submitted(team, form_id)

    seen_by_a = team.ok("a", "GET", f"/records/{rid}")["approval"]
    assert seen_by_a["policy"] == "all" and seen_by_a["required"] == 2
    assert seen_by_a["can_vote"] and not seen_by_a["can_withdraw"]
    assert [p["user_id"] for p in seen_by_a["approvers"]] == [ids["a"], ids["b"]]
    assert team.ok("owner", "GET", f"/records/{rid}")["approval"]["can_withdraw"] is True
    assert team.box("a", "approvals") == [rid] and team.box("owner", "approvals") == []

    url = f"/records/{rid}/approvals"
    assert_error(
        team.call("b", "POST", url, json={"decision": "reject"}),
        422,
        "reject_needs_comment",
        "comment",
    )
    assert_error(
        team.call("stranger", "POST", url, json={"decision": "approve"}), 403, "permission_denied"
    )
    assert_error(
        team.call("a", "POST", url, json={"decision": "maybe"}), 422, "literal_error", "decision"
    )
    assert team.call("a", "POST", url, json={"decision": "approve", "extra": 1}).status_code == 422

    added = team.ok(
        "a", "POST", f"{url}/approvers", json={"user_id": ids["c"], "comment": "请财务复核"}
    )
    assert [p["added_by"] for p in added["approval"]["approvers"]] == [None, None, ids["a"]]
    assert_error(
        team.call("stranger", "POST", f"{url}/approvers", json={"user_id": ids["stranger"]}),
        403,
        "permission_denied",
    )
    assert_error(
        team.call("admin", "POST", f"{url}/approvers", json={"user_id": ids["c"]}),
        409,
        "already_approver",
    )

    after_a = team.ok("a", "POST", url, json={"decision": "approve", "comment": "同意"})
    assert after_a["stage"] == "review" and after_a["approval"]["can_vote"] is False
    assert_error(team.call("a", "POST", url, json={"decision": "approve"}), 409, "already_decided")
    assert_error(
        team.call("owner", "POST", f"/records/{rid}/withdraw"), 409, "withdraw_not_allowed"
    )
    assert team.ok("b", "POST", url, json={"decision": "approve"})["stage"] == "review"
    done = team.ok("c", "POST", url, json={"decision": "approve"})
    assert done["stage"] == "paid" and done["approval"] is None
    assert team.box("a", "approvals") == [] and team.box("a", "handled") == [rid]
    assert_error(team.call("b", "POST", url, json={"decision": "approve"}), 409, "not_in_approval")


def test_a_vote_handed_on_moves_to_the_new_approvers_work_list(team: Team) -> None:
    ids = team.ids
    form_id = _form(team, {"policy": "all", "approvers": {"users": [ids["a"], ids["b"]]}})
    rid = _submitted(team, form_id)
    url = f"/records/{rid}/approvals/transfer"
    assert_error(
        team.call("stranger", "POST", url, json={"user_id": ids["c"], "from_user_id": ids["a"]}),
        403,
        "permission_denied",
    )
    assert_error(team.call("a", "POST", url, json={"user_id": ids["b"]}), 409, "already_approver")
    assert team.call("a", "POST", url, json={"user_id": 0}).status_code == 422
    handed = team.ok("a", "POST", url, json={"user_id": ids["c"], "comment": "请 C 代审"})
    assert [p["user_id"] for p in handed["approval"]["approvers"]] == [ids["c"], ids["b"]]
    assert team.box("a", "approvals") == [] and team.box("c", "approvals") == [rid]
    # An admin hands on b's vote; a vote already handed cannot be handed by its old approver.
    team.ok("admin", "POST", url, json={"user_id": ids["a"], "from_user_id": ids["b"]})
    assert_error(
        team.call("admin", "POST", url, json={"user_id": ids["b"], "from_user_id": ids["owner"]}),
        409,
        "not_pending_approver",
    )
    votes = f"/records/{rid}/approvals"
    assert team.ok("c", "POST", votes, json={"decision": "approve"})["stage"] == "review"
    assert team.ok("a", "POST", votes, json={"decision": "approve"})["stage"] == "paid"


def test_reject_returns_and_withdraw(team: Team) -> None:
    ids = team.ids
    form_id = _form(
        team, {"policy": "any", "approvers": {"users": [ids["a"]]}, "reject_to": "draft"}
    )
    rid = _submitted(team, form_id)
    assert_error(team.call("a", "POST", f"/records/{rid}/withdraw"), 403, "permission_denied")
    back = team.ok("owner", "POST", f"/records/{rid}/withdraw", json={"comment": "补充附件"})
    assert back["stage"] == "draft" and back["approval"] is None
    assert_error(team.call("owner", "POST", f"/records/{rid}/withdraw"), 409, "not_in_approval")

    team.ok("owner", "POST", f"/records/{rid}/transitions", json={"transition": "submit"})
    # nobody fires the approval's own way on by hand
    body = {"transition": "pay"}
    assert_error(
        team.call("admin", "POST", f"/records/{rid}/transitions", json=body),
        422,
        "approval_decides",
        "transition",
    )
    rejected = team.ok(
        "a", "POST", f"/records/{rid}/approvals", json={"decision": "reject", "comment": "金额有误"}
    )
    assert rejected["stage"] == "draft"


def test_reassign(team: Team) -> None:
    ids = team.ids
    form_id = _form(team, {"approvers": {"users": [ids["a"]]}})
    rec = team.ok("owner", "POST", f"/forms/{form_id}/records", json={"data": {"title": "x"}})
    rid = rec["id"]
    url = f"/records/{rid}/reassign"
    # 填写 has no owner rule: only an admin may hand it to someone
    assert_error(
        team.call("owner", "POST", url, json={"user_id": ids["b"]}), 403, "permission_denied"
    )
    assert_error(
        team.call("admin", "POST", url, json={"user_id": 999_999}), 422, "unknown_user", "user_id"
    )
    assert team.call("admin", "POST", url, json={"user_id": 0}).status_code == 422
    moved = team.ok("admin", "POST", url, json={"user_id": ids["b"], "comment": "请 b 跟进"})
    assert moved["assignee_id"] == ids["b"] and moved["version"] == 2
    assert team.box("b", "todo") == [rid]
    handed = team.ok("b", "POST", url, json={"user_id": ids["c"]})
    assert handed["assignee_id"] == ids["c"]
    assert team.box("b", "todo") == [] and team.box("c", "todo") == [rid]
    history = team.ok("owner", "GET", f"/records/{rid}/history")
    assert [(h["action"], h["comment"]) for h in history] == [
        ("create", None),
        ("reassign", "请 b 跟进"),
        ("reassign", None),
    ]
    assert_error(
        team.call("c", "POST", "/records/999999/reassign", json={"user_id": ids["a"]}),
        404,
        "not_found",
    )
