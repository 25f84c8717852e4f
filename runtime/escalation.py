"""Escalation: what happens when a stay in a stage runs past its deadline.

:func:`run_escalations` is the one entry point (the CLI's ``stageform escalate`` runs it once;
the job runner will run it on a schedule). For every open stay of a live record whose deadline
has passed it fires each escalation rule of the stage whose ``after_hours`` have passed too —
notify people, reassign the record, fire a transition — each rule of each stay exactly once:
the rule is claimed first (a row in ``escalation_runs``, by the rule's key:
:func:`builder.workflow.escalation_keys`), so a second run, or a second worker running at the
same moment, skips it, and so does a run after the workflow's rules were reordered or others
added around it.

A rule whose action cannot run (the transition is refused, the record changed meanwhile) is
still spent: its claim records the reason, and nothing of that action is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from builder.calendar import WorkCalendar
from builder.i18n import register, translate
from builder.workflow import Assignee, Escalation, Stage, escalation_keys, stage_calendar
from runtime.actor import SYSTEM
from runtime.calendar import add_working_hours, calendar_zone
from runtime.compiled import CompiledForm
from runtime.errors import EngineError
from runtime.services import assignees
from runtime.store import directory
from runtime.store import records as record_store
from runtime.store import stages as stage_store
from runtime.store.records import RecordRow
from runtime.store.stages import Stay
from runtime.timestamps import utc_text
from runtime.workflow import RecordState

if TYPE_CHECKING:
    from runtime.services import Services

register(
    {
        "escalation_overdue_title": {
            "zh": "{form}“{record}”在“{stage}”阶段已超时",
            "en": "{form} '{record}' is overdue in '{stage}'",
        },
        "escalation_overdue_body": {
            "zh": "截止时间 {due_at}，已超时 {hours} 小时",
            "en": "it was due at {due_at}; {hours} hours overdue",
        },
    }
)

BATCH = 200


@dataclass
class EscalationReport:
    """What one run did: rules fired, and those whose action could not run (with why)."""

    fired: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    notified: int = 0
    reassigned: int = 0
    moved: int = 0


def due_rules(
    stage: Stage,
    due_at: dt.datetime,
    now: dt.datetime,
    calendar: WorkCalendar | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> list[tuple[str, Escalation]]:
    """The escalation rules of ``stage`` (with their keys) due at ``now`` for a stay due at
    ``due_at``: ``after_hours`` past the deadline, in working hours when the stage has a
    ``calendar`` (so "2 hours after" a Friday 17:00 deadline is Monday 10:00, not Friday 19:00).
    """
    out = []
    for i, rule in zip(escalation_keys(stage), stage.escalation, strict=True):
        if rule.after_hours and calendar is not None:
            moment = add_working_hours(
                calendar, due_at, rule.after_hours, calendar_zone(calendar, tz)
            )
        else:
            moment = due_at + dt.timedelta(hours=rule.after_hours)
        if moment is not None and moment <= now:
            out.append((i, rule))
    return out


def run_escalations(
    conn: Any, services: Services, now: dt.datetime, *, lang: str = "zh"
) -> EscalationReport:
    """Fire every escalation rule that is due at ``now`` and has not fired yet, in the caller's
    transaction (commit it to make the claims and their effects visible together).

    Safe to call twice, and from two workers at once: each rule of each stay fires once.
    Raises nothing for a rule whose action fails (see :class:`EscalationReport`).
    """
    services = replace(services, clock=lambda: now)
    report = EscalationReport()
    after: tuple[dt.datetime, int] | None = None
    while True:
        stays = stage_store.due_stays(conn, now, after=after, limit=BATCH)
        if not stays:
            return report
        claimed = stage_store.claimed_rules(conn, [s.id for s in stays])
        for stay in stays:
            _escalate_stay(conn, services, stay, claimed, now, lang, report)
        last = stays[-1]
        assert last.due_at is not None
        after = (last.due_at, last.id)


def _escalate_stay(
    conn: Any,
    services: Services,
    stay: Stay,
    claimed: set[tuple[int, str]],
    now: dt.datetime,
    lang: str,
    report: EscalationReport,
) -> None:
    assert stay.due_at is not None
    cf = services.compiled_form(conn, stay.form_id)
    wf = cf.definition.workflow
    stage = wf.stage(stay.stage) if wf is not None else None
    if wf is None or stage is None:
        return
    calendar = stage_calendar(wf, stage)
    tz = services.coerce_context.timezone
    for key, rule in due_rules(stage, stay.due_at, now, calendar, tz):
        if not _stay_goes_on(conn, stay):
            # An earlier rule (or someone meanwhile) moved the record on: this stay's rules
            # are spent with it, as they would be had the runs been more frequent.
            return
        if (stay.id, key) in claimed or not stage_store.claim_escalation(conn, stay, key, now):
            continue
        report.fired += 1
        try:
            with conn.begin_nested():
                _apply(conn, services, cf, stage, stay, rule, now, lang, report)
        except EngineError as exc:
            outcome = f"{exc.code}: {exc}"
            report.failed.append(
                # The rule as the workflow editor shows it: its place in the stage's list.
                {
                    "record_id": stay.record_id,
                    "rule": escalation_keys(stage).index(key),
                    "error": outcome,
                }
            )
            stage_store.set_escalation_outcome(conn, stay, key, outcome[:1000])
        else:
            stage_store.set_escalation_outcome(conn, stay, key, "done")


def _stay_goes_on(conn: Any, stay: Stay) -> bool:
    """Whether ``stay`` is still the record's open stay (in the same stage)."""
    current = stage_store.open_stay(conn, stay.record_id)
    return current is not None and current.id == stay.id


def _apply(
    conn: Any,
    services: Services,
    cf: CompiledForm,
    stage: Stage,
    stay: Stay,
    rule: Escalation,
    now: dt.datetime,
    lang: str,
    report: EscalationReport,
) -> None:
    assert stay.due_at is not None
    row = record_store.get_record(conn, stay.record_id)
    state = RecordState(row.stage, row.data, row.owner_id, row.assignee_id, row.id)
    notified: list[int] = []
    for who in rule.notify:
        notified.extend(people(conn, cf, stage, who, state))
    notified = sorted(set(notified))
    if notified:
        title = translate(
            "escalation_overdue_title",
            lang,
            form=cf.definition.name,
            record=_title(cf, row),
            stage=stage.name,
        )
        body = translate(
            "escalation_overdue_body",
            lang,
            due_at=utc_text(stay.due_at),
            hours=round((now - stay.due_at).total_seconds() / 3600, 1),
        )
        stage_store.add_notifications(
            conn,
            notified,
            kind="stage_overdue",
            title=title,
            body=body,
            record_id=row.id,
            now=now,
        )
        report.notified += len(notified)
    reassigned_to = None
    if rule.reassign is not None:
        reassigned_to = assignees.reassignee(conn, cf, stage, rule.reassign, state)
        if reassigned_to is not None:
            row = record_store.reassign_record(
                conn, row, assignee_id=reassigned_to, comment=None, actor_id=None, now=now
            )
            report.reassigned += 1
    if rule.transition is not None:
        services.fire_transition(conn, SYSTEM, row.id, rule.transition, version=row.version)
        report.moved += 1
    stage_store.record_event(
        conn,
        "record.escalated",
        {
            "record_id": row.id,
            "form_id": row.form_id,
            "stage": stage.key,
            "due_at": utc_text(stay.due_at),
            "notified": notified,
            "reassigned_to": reassigned_to,
            "transition": rule.transition,
        },
        now,
    )


def people(
    conn: Any, cf: CompiledForm, stage: Stage, who: Assignee, state: RecordState
) -> list[int]:
    """The active users an assignee rule names for the record, by id: the rules resolve as
    for stage owners and approvers (:func:`runtime.services.assignees.rule_people`), except
    that a round robin names every member of its role (escalation notifies them all; its
    reassign takes the turn: :func:`runtime.services.assignees.reassignee`)."""
    named = assignees.rule_people(conn, cf, stage, who, state, take_turn=False)
    return sorted(directory.active_user_ids(conn, set(named)))


def _title(cf: CompiledForm, row: RecordRow) -> str:
    key = cf.definition.title_field
    value = row.data.get(key) if key else None
    return str(value) if value not in (None, "") else f"#{row.id}"
