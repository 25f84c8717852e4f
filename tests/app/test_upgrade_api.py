"""A publish over HTTP brings the form's older records up to the new version in the background
(runtime.services.upgrade): a list filtered on a converted field finds them, and their history
shows the upgrade. SQLite and PostgreSQL."""

from __future__ import annotations

import time

from runtime.store.database import Database
from tests.app.factories import TestClient, make_token, make_user

API = "/api/v1"


def test_a_publish_over_http_upgrades_the_older_records(
    client: TestClient, database: Database
) -> None:
    admin = make_user(database, "boss@example.com", is_admin=True)
    token, _ = make_token(database, admin)
    h = {"Authorization": f"Bearer {token}"}
    app = client.post(f"{API}/apps", json={"key": "up", "name": "Up"}, headers=h).json()
    form = {"key": "f", "name": "F", "fields": [{"key": "qty", "type": "text", "label": "Q"}]}
    fid = client.post(f"{API}/apps/{app['id']}/forms", json=form, headers=h).json()["id"]
    assert client.post(f"{API}/forms/{fid}/publish", headers=h).status_code == 200
    ids = [
        client.post(f"{API}/forms/{fid}/records", json={"data": {"qty": q}}, headers=h).json()["id"]
        for q in ("9", "10", "11")
    ]
    form["fields"][0].update(type="number", filterable=True)  # type: ignore[attr-defined]
    assert client.put(f"{API}/forms/{fid}", json=form, headers=h).status_code == 200
    assert client.post(f"{API}/forms/{fid}/publish", headers=h).status_code == 200
    query = {"filter": {"field": "qty", "op": "gte", "value": 10}}
    deadline = time.monotonic() + 20
    while True:
        found = client.post(f"{API}/forms/{fid}/records/query", json=query, headers=h)
        assert found.status_code == 200, found.text
        if found.json()["count"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert sorted(r["id"] for r in found.json()["items"]) == ids[1:]
    history = client.get(f"{API}/records/{ids[0]}/history", headers=h).json()
    entries = history["items"] if isinstance(history, dict) else history
    assert entries[-1]["action"] == "upgrade" and entries[-1]["diff"] == {"qty": ["9", 9]}
