"""Schemathesis over the OpenAPI document: no request may get a 5xx, and every response must be
one the document declares (status code, content type, headers, body schema).

The document is loaded once, in-process, from an app on a throwaway SQLite database (it does
not depend on the database). Each operation then runs against its own fresh app of each
backend with the CRM template installed, authenticated as an admin by a bearer token, so the
routes are really exercised; path ids are drawn from the real app/form/record ids as often as
from random integers; each operation that declares security is probed once without
credentials and with invalid ones (``ignored_auth``). A short pass without credentials checks
the 401s.

Examples are bounded (hypothesis settings below): the file takes about 2.5 minutes for both
backends on 2 cores (``-n 0``). The checks are fixed in :data:`CHECKS`; a route answering 500
fails its operation's test (ST101 "Server error").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans

from app.config import Settings
from app.main import create_app
from runtime.actor import Actor
from runtime.services import Services
from runtime.store.database import Database
from runtime.store.engine import make_engine
from runtime.store.migrate import upgrade
from templates_lib.loader import load_template
from tests.app.factories import make_token, make_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Authenticated calls also probe, once per operation, that the operation refuses the same
# request without credentials and with invalid ones, as its declared security says.
AUTHENTICATED_CHECKS = [*CHECKS, ignored_auth]

# Per operation (and backend). The fuzzing phase honours max_examples; the examples and
# coverage phases add a bounded number of deterministic cases on top. For a deeper run:
# STAGEFORM_FUZZ_EXAMPLES=500 python3 -m pytest tests/app/test_schemathesis.py
EXAMPLES = int(os.environ.get("STAGEFORM_FUZZ_EXAMPLES", "30"))
AUTHENTICATED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
    database=None,
)
UNAUTHENTICATED = settings(AUTHENTICATED, max_examples=max(5, EXAMPLES // 6))


def _load_schema() -> schemathesis.BaseSchema:
    """The OpenAPI document of an app, fetched from the ASGI app itself (no network)."""
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{directory}/schema.db")
        try:
            upgrade(engine)
            app = create_app(
                Settings(data_dir=Path(directory) / "data", secret_key="schema-only"),
                database=Database.from_engine(engine),
            )
            return schemathesis.openapi.from_asgi("/openapi.json", app)
        finally:
            engine.dispose()


schema = _load_schema()


@dataclass
class Target:
    """An app with the CRM installed, and the real ids to aim at."""

    app: FastAPI
    headers: dict[str, str]
    ids: dict[str, list[int]] = field(default_factory=dict)
    # form id → valid `data` for a record of it (the template's sample rows)
    samples: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


@pytest.fixture
def target(app: FastAPI, database: Database) -> Iterator[Target]:
    admin = make_user(database, "admin@example.com", is_admin=True, name="Admin")
    token, _ = make_token(database, admin)
    actor = Actor(user_id=admin.id, is_admin=True)
    services = Services()
    template = load_template("crm")
    with database.begin() as conn:
        installed = services.install_app(conn, actor, template.app, template.sample_data)
        forms = services.list_forms(conn, actor, installed.id)
        record_ids: list[int] = []
        samples: dict[int, list[dict[str, Any]]] = {}
        for form in forms:
            page = services.query(conn, actor, form.id, {"limit": 500})
            record_ids += [r["id"] for r in page["items"]]
            if form.key in template.sample_data:
                samples[form.id] = list(template.sample_data[form.key])
        # One soft-deleted record, for restore.
        if record_ids:
            deleted = services.get_record(conn, actor, record_ids[-1])
            services.delete_record(conn, actor, deleted["id"], deleted["version"])
    yield Target(
        app=app,
        headers={"Authorization": f"Bearer {token}"},
        ids={
            "app_id": [installed.id],
            "form_id": [f.id for f in forms],
            "record_id": record_ids,
        },
        samples=samples,
    )
    shutdown_lifespans()


def _aim(case: schemathesis.Case, data: st.DataObject, target: Target) -> None:
    """Point the case's path ids at real objects half of the time; give a record create a
    valid row of its form some of the time (random data mostly stops at "unknown key")."""
    for name, ids in target.ids.items():
        if (
            case.path_parameters
            and name in case.path_parameters
            and ids
            and data.draw(st.booleans(), label=f"real {name}")
        ):
            case.path_parameters[name] = data.draw(st.sampled_from(ids), label=name)
    form_id = (case.path_parameters or {}).get("form_id")
    rows = target.samples.get(form_id) if isinstance(form_id, int) else None
    if (
        rows
        and case.operation.path.endswith("/records")
        and case.method.upper() == "POST"
        and isinstance(case.body, dict)
        and "data" in case.body
        and data.draw(st.booleans(), label="valid row")
    ):
        case.body["data"] = dict(data.draw(st.sampled_from(rows), label="row"))


@schema.parametrize()
@schema.given(data=st.data())
@AUTHENTICATED
def test_api_authenticated(case: schemathesis.Case, data: st.DataObject, target: Target) -> None:
    _aim(case, data, target)
    # The credentials go in the case itself, marked as given rather than generated (as
    # schemathesis.auths.apply_basic_auth marks its own), so that ignored_auth takes them out
    # and tries invalid ones.
    case.headers = {**(case.headers or {}), **target.headers}
    case._has_explicit_auth = True
    case.call_and_validate(app=target.app, checks=AUTHENTICATED_CHECKS)


@schema.parametrize()
@UNAUTHENTICATED
def test_api_unauthenticated(case: schemathesis.Case, app: FastAPI) -> None:
    case.call_and_validate(app=app, checks=CHECKS)
