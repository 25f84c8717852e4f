"""Workflow decisions (pure): who may fire a transition, whether it may fire now, where the
record goes, who owns the new stage and when it is due.

The engine never trusts the page: every check here runs on the server for every transition, in
a fixed order — the record is in a ``from`` stage; the actor may fire it; the ``when`` guard
holds (on the data as it will be, ``data`` of the request applied); the ``requires`` fields are
filled; a comment is given when ``requires_comment``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from builder.calendar import WorkCalendar
from builder.errors import ExpressionError
from builder.expr import EvalContext, evaluate, parse
from builder.fields.base import DEFAULT_CONTEXT, CoerceContext
from builder.i18n import register, translate
from builder.workflow import FieldActor, Stage, Transition, Workflow
from runtime.actor import Actor
from runtime.calendar import add_working_hours, calendar_zone
from runtime.compiled import CompiledForm
from runtime.errors import FieldError, PermissionDeniedError, RecordValidationError
from runtime.permissions import mask_errors

register(
    {
        "unknown_transition_key": {
            "zh": "没有名为“{key}”的流转",
            "en": "there is no transition '{key}'",
        },
        "wrong_stage": {
            "zh": "记录当前处于“{stage}”，不能执行“{label}”",
            "en": "the record is in '{stage}'; '{label}' cannot be fired from there",
        },
        "guard_failed": {
            "zh": "不满足“{label}”的条件：{when}",
            "en": "the condition of '{label}' does not hold: {when}",
        },
        "guard_failed_hidden": {
            "zh": "不满足“{label}”的条件",
            "en": "the condition of '{label}' does not hold",
        },
        "required_for_transition": {
            "zh": "执行“{label}”前须填写“{field}”",
            "en": "fill in '{field}' before '{label}'",
        },
        "comment_required": {"zh": "“{label}”需要填写意见", "en": "'{label}' needs a comment"},
        "no_workflow": {"zh": "该表单没有流程", "en": "this form has no workflow"},
    }
)


class TransitionRefusedError(RecordValidationError):
    """A transition may not fire now (wrong stage, guard, missing fields or comment); the
    record is unchanged. ``errors`` says why, one entry per reason."""

    code = "transition_refused"


@dataclass(frozen=True)
class RecordState:
    """What the decisions look at: the record's stage, data and people."""

    stage: str | None
    data: Mapping[str, Any]
    owner_id: int | None
    assignee_id: int | None
    record_id: int | None = None


def _user_ids(value: Any) -> set[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, int) and not isinstance(v, bool)}
    return set()


def may_fire(t: Transition, actor: Actor, state: RecordState) -> bool:
    """Whether ``actor`` is one of the people ``t`` names (``roles`` or ``allow``); with
    neither, anyone who may edit the record may fire it. Admins may fire any transition."""
    if actor.is_admin:
        return True
    if t.roles is None and t.allow is None:
        return True
    if t.roles and actor.role_keys & set(t.roles):
        return True
    for who in t.allow or []:
        if who == "anyone":
            return True
        if who == "owner" and actor.user_id is not None and actor.user_id == state.owner_id:
            return True
        if who == "assignee" and actor.user_id is not None and actor.user_id == state.assignee_id:
            return True
        if isinstance(who, FieldActor) and actor.user_id in _user_ids(state.data.get(who.field)):
            return True
    return False


def guard_holds(
    cf: CompiledForm,
    t: Transition,
    state: RecordState,
    actor: Actor,
    now: dt.datetime,
    coerce: CoerceContext = DEFAULT_CONTEXT,
) -> bool:
    """The ``when`` guard on the record's data, read in ``coerce``'s time zone (TODAY() is
    the server's day, as in formulas); a guard that cannot be evaluated does not hold."""
    if not t.when:
        return True
    values: dict[str, Any] = {}
    for key, value in state.data.items():
        f = cf.fields.get(key)
        if f is not None:
            values[key] = cf.types[key].to_expr(f, value, coerce)
    values["stage"] = state.stage
    try:
        return bool(
            evaluate(
                t.when,
                EvalContext(
                    values=values,
                    now=now,
                    timezone=coerce.timezone,
                    current_user=actor.user_id,
                    record_id=state.record_id,
                    labels=cf.labels,
                ),
            )
        )
    except ExpressionError:
        return False


def available_transitions(
    cf: CompiledForm,
    state: RecordState,
    actor: Actor,
    now: dt.datetime,
    coerce: CoerceContext = DEFAULT_CONTEXT,
) -> list[Transition]:
    """The transitions ``actor`` could fire from the record's stage whose guard holds now."""
    wf = cf.definition.workflow
    if wf is None or state.stage is None:
        return []
    return [
        t
        for t in wf.transitions
        if state.stage in t.from_
        and may_fire(t, actor, state)
        and guard_holds(cf, t, state, actor, now, coerce)
    ]


def transition_for(cf: CompiledForm, key: str, lang: str) -> tuple[Workflow, Transition]:
    """Raises: TransitionRefusedError (no workflow, or no such transition)."""
    wf = cf.definition.workflow
    if wf is None:
        raise TransitionRefusedError(
            [FieldError("transition", "no_workflow", translate("no_workflow", lang))]
        )
    t = wf.transition(key)
    if t is None:
        raise TransitionRefusedError(
            [
                FieldError(
                    "transition",
                    "unknown_transition_key",
                    translate("unknown_transition_key", lang, key=key),
                )
            ]
        )
    return wf, t


def check_can_start(cf: CompiledForm, t: Transition, state: RecordState, actor: Actor) -> None:
    """The first two checks, before any requested data is applied.

    Raises: TransitionRefusedError (``wrong_stage``), PermissionDeniedError.
    """
    wf = cf.definition.workflow
    if state.stage not in t.from_:
        stage = wf.stage(state.stage) if wf is not None and state.stage else None
        raise TransitionRefusedError(
            [
                FieldError(
                    "transition",
                    "wrong_stage",
                    translate(
                        "wrong_stage",
                        actor.lang,
                        stage=stage.name if stage else state.stage,
                        label=t.label,
                    ),
                )
            ]
        )
    if not may_fire(t, actor, state):
        raise PermissionDeniedError(f"transition {t.key}")


@lru_cache(maxsize=1024)
def _reads(source: str) -> frozenset[str] | None:
    """The names expression ``source`` reads (None: it does not parse)."""
    try:
        return frozenset(parse(source).references())
    except ExpressionError:
        return None


def check_can_finish(
    cf: CompiledForm,
    t: Transition,
    state: RecordState,
    actor: Actor,
    comment: str | None,
    now: dt.datetime,
    coerce: CoerceContext = DEFAULT_CONTEXT,
    hidden: frozenset[str] = frozenset(),
) -> None:
    """The remaining checks, on the data as it will be after the request's ``data``. A guard
    that reads a field ``hidden`` from the actor is reported without its expression, a
    required field hidden from them without its name.

    Raises: TransitionRefusedError with every reason (guard, required fields, comment).
    """
    errors: list[FieldError] = []
    lang = actor.lang
    if not guard_holds(cf, t, state, actor, now, coerce):
        reads = _reads(t.when) if t.when else frozenset()
        if reads is None or reads & hidden:
            message = translate("guard_failed_hidden", lang, label=t.label)
        else:
            message = translate("guard_failed", lang, label=t.label, when=t.when)
        errors.append(FieldError("transition", "guard_failed", message))
    for key in t.requires:
        if state.data.get(key) in (None, "", []):
            errors.append(
                FieldError(
                    key,
                    "required_for_transition",
                    translate("required_for_transition", lang, label=t.label, field=cf.label(key)),
                )
            )
    if t.requires_comment and not (comment or "").strip():
        errors.append(
            FieldError(
                "comment", "comment_required", translate("comment_required", lang, label=t.label)
            )
        )
    if errors:
        # Only the required fields' errors name a field ("transition" and "comment" are the
        # request's, even in a form with a field of that name).
        raise TransitionRefusedError(
            [
                *(e for e in errors if e.code != "required_for_transition"),
                *mask_errors(
                    [e for e in errors if e.code == "required_for_transition"], hidden, lang
                ),
            ]
        )


def stage_deadline(
    stage: Stage,
    data: Mapping[str, Any],
    entered: dt.datetime,
    tz: dt.tzinfo = dt.UTC,
    calendar: WorkCalendar | None = None,
) -> dt.datetime | None:
    """When a stay in ``stage`` is due: ``sla_hours`` after entering it — working hours of
    ``calendar`` when one is given (see :func:`builder.workflow.stage_calendar`) — or the value
    of its ``due_field`` (a date field is due at the end of that day in ``tz``)."""
    if stage.sla_hours is not None:
        if calendar is not None:
            zone = calendar_zone(calendar, tz)
            return add_working_hours(calendar, entered, stage.sla_hours, zone)
        return entered + dt.timedelta(hours=stage.sla_hours)
    if stage.due_field is not None:
        value = data.get(stage.due_field)
        if isinstance(value, str) and value:
            try:
                if "T" in value:
                    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                day = dt.date.fromisoformat(value)
            except ValueError:
                return None
            return dt.datetime.combine(day, dt.time(23, 59, 59), tz).astimezone(dt.UTC)
    return None
