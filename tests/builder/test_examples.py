"""The contract examples load unchanged, validate, and round-trip without loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder import dump_app, dump_form, validate_app, validate_form
from builder.automation import AutomationDefinition
from builder.dashboard import DashboardDefinition
from builder.validation import validate_automation, validate_dashboard
from tests.builder.factories import CONTRACT, app_definition, example, forms_by_key

SHARED = Path(__file__).resolve().parents[3] / "shared" / "examples"


@pytest.mark.parametrize("name", ["customer.json", "automation.json", "dashboard.json"])
def test_contract_copy_matches_shared(name: str) -> None:
    if not SHARED.exists():
        pytest.skip("../shared/examples is not beside this checkout")
    assert json.loads((CONTRACT / name).read_text()) == json.loads((SHARED / name).read_text())


def test_customer_example_loads_unchanged_and_round_trips() -> None:
    data = example("customer.json")
    form = validate_form(data)
    assert dump_form(form) == data
    assert [f.key for f in form.fields][:3] == ["name", "code", "grade"]
    assert form.workflow is not None and form.workflow.initial_stage is not None
    assert form.workflow.initial_stage.key == "new"


def test_automation_example_validates_within_its_app() -> None:
    data = example("automation.json")
    automation = validate_automation(data, forms_by_key())
    assert isinstance(automation, AutomationDefinition)
    assert automation.model_dump(mode="json", by_alias=True, exclude_unset=True) == data


def test_dashboard_example_validates_within_its_app() -> None:
    data = example("dashboard.json")
    dashboard = validate_dashboard(data, forms_by_key())
    assert isinstance(dashboard, DashboardDefinition)
    assert dashboard.model_dump(mode="json", by_alias=True, exclude_unset=True) == data


def test_whole_app_validates_and_round_trips() -> None:
    data = app_definition()
    app = validate_app(data)
    assert dump_app(app) == data


def test_published_definition_carries_version_and_is_immutable() -> None:
    import pydantic

    from builder import publish

    draft = validate_form(example("customer.json"))
    assert draft.version is None
    published = publish(draft, 3)
    assert published.version == 3
    # The same definition, with the formula's result_type inferred (价值评分: a number).
    expected = {**example("customer.json"), "version": 3}
    expected["fields"] = [
        {**f, "result_type": "number"} if f["key"] == "score" else f for f in expected["fields"]
    ]
    assert dump_form(published) == expected
    with pytest.raises(pydantic.ValidationError):
        published.name = "改名"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        published.fields[0].label = "改名"  # type: ignore[misc]
