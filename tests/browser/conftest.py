"""Browser tests: Debian's chromium driven by Playwright, against a real server.

``live_server`` runs ``create_app`` under uvicorn in a thread, on a free 127.0.0.1 port and a
fresh migrated SQLite database; ``page`` is a new page of one chromium per test module. Without
chromium or Playwright the tests are skipped, except under ``CI=true`` (``scripts/test``
installs chromium), where that is an error. Chromium is never downloaded by Playwright.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from app.config import Settings
from app.main import create_app
from runtime.store.database import Database
from tests.conftest import _in_ci

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(message: str) -> None:
    if _in_ci():
        pytest.fail(f"{message} (CI=true requires the browser tests)", pytrace=False)
    pytest.skip(message)


# Per module, not per session: Playwright's sync API runs an event loop of its own in this
# thread while it is open, and the other tests of the worker make theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        _unavailable("no chromium on PATH: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class LiveServer:
    url: str
    database: Database


@pytest.fixture
def live_server(tmp_path: Path, fresh_engine: sa.Engine) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", secret_key="browser-test-key")
    database = Database.from_engine(fresh_engine)
    app = create_app(settings, database=database)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start", pytrace=False)
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", database)
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
