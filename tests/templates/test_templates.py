"""Every template validates, installs through the ordinary services, and round-trips."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from builder import dump_app, validate_app
from runtime.services import Services
from templates_lib.loader import load_template, template_keys
from tests.runtime.test_record_service import make_user


def test_there_are_templates() -> None:
    assert "crm" in template_keys()


@pytest.mark.parametrize("key", template_keys())
def test_template_validates_and_round_trips(key: str) -> None:
    template = load_template(key)
    assert validate_app(dump_app(template.app)) == template.app


@pytest.mark.parametrize("key", template_keys())
def test_template_installs_with_its_sample_data(key: str, conn: sa.Connection) -> None:
    template = load_template(key)
    services = Services()
    actor = make_user(conn, admin=True)
    app = services.install_app(conn, actor, template.app, template.sample_data)
    forms = {f.key: f for f in services.list_forms(conn, actor, app.id)}
    assert set(forms) == {f.key for f in template.app.forms}
    assert all(f.published_version == 1 for f in forms.values())
    for form_key, rows in template.sample_data.items():
        page = services.query(conn, actor, forms[form_key].id, {"limit": 500})
        assert page["count"] == len(rows)


def test_unknown_template() -> None:
    with pytest.raises(KeyError):
        load_template("../etc")
