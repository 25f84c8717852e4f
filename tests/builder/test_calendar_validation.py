"""Working-hours calendars in definitions: one case per problem code, and the shape."""

from __future__ import annotations

from typing import Any

import pytest

from builder import dump_form, form_problems, load_form
from builder.calendar import WorkCalendar
from builder.workflow import stage_calendar
from tests.builder.factories import forms_by_key, order_form


def _with_calendar(where: str, calendar: dict[str, Any]) -> dict[str, Any]:
    form = order_form()
    if where == "workflow":
        form["workflow"]["calendar"] = calendar
    else:
        next(s for s in form["workflow"]["stages"] if s["key"] == where)["calendar"] = calendar
    return form


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("calendar_unknown_timezone", {"timezone": "Mars/Olympus"}, "workflow.calendar.timezone"),
    ("calendar_no_working_days", {"days": []}, "workflow.calendar.days"),
    ("calendar_no_working_hours", {"hours": []}, "workflow.calendar.hours"),
    (
        "calendar_period_order",
        {"hours": [{"start": "18:00", "end": "09:00"}]},
        "workflow.calendar.hours[0]",
    ),
    (
        "calendar_period_order",
        {"hours": [{"start": "09:00", "end": "09:00"}]},
        "workflow.calendar.hours[0]",
    ),
    (
        "calendar_periods_overlap",
        {"hours": [{"start": "13:00", "end": "18:00"}, {"start": "09:00", "end": "13:30"}]},
        "workflow.calendar.hours[0]",
    ),
    (
        "calendar_day_conflict",
        {"holidays": ["2026-10-01", "2026-10-08"], "workdays": ["2026-10-08"]},
        "workflow.calendar.workdays",
    ),
]


@pytest.mark.parametrize(("code", "calendar", "path"), CASES, ids=[c[0] for c in CASES])
def test_each_calendar_problem(code: str, calendar: dict[str, Any], path: str) -> None:
    problems = form_problems(_with_calendar("workflow", calendar), forms=forms_by_key(), lang="en")
    assert [(p.path, p.code) for p in problems] == [(path, code)]
    assert problems[0].message and "{" not in problems[0].message


def test_stage_calendars_are_checked_at_their_path() -> None:
    form = _with_calendar("contract", {"timezone": "Nowhere/Land"})
    problems = form_problems(form, forms=forms_by_key())
    assert [(p.path, p.code) for p in problems] == [
        ("workflow.stages[1].calendar.timezone", "calendar_unknown_timezone")
    ]


@pytest.mark.parametrize("bad", ["9:00", "24:01", "25:00", "12:60", "noon"])
def test_clock_times_are_hh_mm(bad: str) -> None:
    form = _with_calendar("workflow", {"hours": [{"start": bad, "end": "18:00"}]})
    problems = form_problems(form, forms=forms_by_key())
    assert [p.path for p in problems] == ["workflow.calendar.hours[0].start"]


def test_unknown_weekday_is_refused() -> None:
    form = _with_calendar("workflow", {"days": ["mon", "funday"]})
    assert [p.code for p in form_problems(form, forms=forms_by_key())] == ["invalid_choice"]


def test_defaults_and_stage_override() -> None:
    full = {
        "timezone": "Asia/Shanghai",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "hours": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "24:00"}],
        "holidays": ["2026-10-01"],
        "workdays": ["2026-10-10"],
    }
    form = _with_calendar("workflow", {})
    form["workflow"]["stages"][1]["calendar"] = full
    assert form_problems(form, forms=forms_by_key()) == []
    wf = load_form(form).workflow
    assert wf is not None
    default = stage_calendar(wf, wf.stages[0])
    assert default == WorkCalendar()
    assert default.days == ["mon", "tue", "wed", "thu", "fri"]
    assert [(p.start, p.end) for p in default.hours] == [("09:00", "18:00")]
    own = stage_calendar(wf, wf.stages[1])
    assert own is not None and own.timezone == "Asia/Shanghai"
    # saved as given: unset properties stay out, dates stay ISO text
    assert dump_form(load_form(form))["workflow"]["stages"][1]["calendar"] == full
    assert dump_form(load_form(form))["workflow"]["calendar"] == {}


def test_no_calendar_means_none() -> None:
    wf = load_form(order_form()).workflow
    assert wf is not None and stage_calendar(wf, wf.stages[1]) is None
