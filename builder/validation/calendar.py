"""Checks of working-hours calendars (a workflow's and its stages')."""

from __future__ import annotations

from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from builder.calendar import WorkCalendar, clock_minutes
from builder.form import FormDefinition
from builder.i18n import register
from builder.validation.report import Report

register(
    {
        "calendar_unknown_timezone": {
            "zh": "时区“{name}”不存在（请使用 IANA 名称，如 Asia/Shanghai）",
            "en": "unknown time zone '{name}' (use an IANA name such as Asia/Shanghai)",
        },
        "calendar_no_working_days": {
            "zh": "工作日历没有工作日",
            "en": "the calendar has no working days",
        },
        "calendar_no_working_hours": {
            "zh": "工作日历没有工作时段",
            "en": "the calendar has no working hours",
        },
        "calendar_period_order": {
            "zh": "工作时段 {start}–{end} 的结束时间须晚于开始时间（时段不能跨越午夜）",
            "en": "working period {start}–{end} must end after it starts (periods do not cross "
            "midnight)",
        },
        "calendar_periods_overlap": {
            "zh": "工作时段相互重叠",
            "en": "working periods overlap",
        },
        "calendar_day_conflict": {
            "zh": "{day} 既是节假日又是调休工作日",
            "en": "{day} is both a holiday and a make-up working day",
        },
    }
)


def check_calendars(report: Report, form: FormDefinition) -> None:
    wf = form.workflow
    if wf is None:
        return
    if wf.calendar is not None:
        check_calendar(report, "workflow.calendar", wf.calendar)
    for i, s in enumerate(wf.stages):
        if s.calendar is not None:
            check_calendar(report, f"workflow.stages[{i}].calendar", s.calendar)


def check_calendar(report: Report, path: str, cal: WorkCalendar) -> None:
    if cal.timezone is not None and not _known_zone(cal.timezone):
        report.add(f"{path}.timezone", "calendar_unknown_timezone", name=cal.timezone)
    if not cal.days:
        report.add(f"{path}.days", "calendar_no_working_days")
    if not cal.hours:
        report.add(f"{path}.hours", "calendar_no_working_hours")
    spans = []
    for i, period in enumerate(cal.hours):
        start, end = clock_minutes(period.start), clock_minutes(period.end)
        if end <= start:
            report.add(
                f"{path}.hours[{i}]", "calendar_period_order", start=period.start, end=period.end
            )
        else:
            spans.append((start, end, i))
    spans.sort()
    for (_, end, _), (start, _, i) in pairwise(spans):
        if start < end:
            report.add(f"{path}.hours[{i}]", "calendar_periods_overlap")
    for day in sorted(set(cal.holidays) & set(cal.workdays)):
        report.add(f"{path}.workdays", "calendar_day_conflict", day=day.isoformat())


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
