"""/docs in a real browser: it renders from Stageform's own files under its strict policy,
asks nothing of another site, and an API token given to "Authorize" is sent by "Try it
out"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.app.factories import make_token, make_user
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_the_docs_page_works_offline_and_sends_the_token_it_is_given(
    page: Any, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect

    user = make_user(live_server.database, "docs@example.com")
    token, _ = make_token(live_server.database, user)
    problems: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url + "/") else elsewhere.append(r.url),
    )

    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Stageform")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 50

    # Authorize with the token (the bearerToken scheme of the OpenAPI document) ...
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input[type=text]").first.fill(token)
    dialog.locator("button.authorize").first.click()
    dialog.locator("button.btn-done").first.click()
    # ... then try GET /api/v1/auth/me: the page sends it, the API knows the user.
    me = page.locator(".opblock-get", has=page.locator("[data-path='/api/v1/auth/me']"))
    me.locator(".opblock-summary").click()
    me.locator(".try-out__btn").click()
    me.locator(".execute").click()
    response = me.locator(".live-responses-table .response").first
    expect(response.locator(".response-col_status")).to_contain_text("200")
    expect(response.locator(".response-col_description")).to_contain_text("docs@example.com")

    assert problems == []  # no script error, no Content-Security-Policy violation
    assert elsewhere == []  # every request went to the server itself
