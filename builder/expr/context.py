"""What an evaluation sees (:class:`EvalContext`) and what a static check knows
(:class:`NameInfo`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from builder.value_types import ExprType

_SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class EvalContext:
    """The world an expression is evaluated in.

    ``values`` maps field keys to values already in expression form (see
    :mod:`builder.value_types`); a key that is absent is blank. ``now`` (aware) pins the clock
    for TODAY()/NOW(); ``None`` means the real time in ``timezone``. ``labels`` (optional) maps
    keys to field labels so evaluation errors can name fields the way people know them.
    """

    values: Mapping[str, Any]
    now: dt.datetime | None = None
    timezone: dt.tzinfo = _SHANGHAI
    current_user: Any = None
    record_id: Any = None
    holidays: frozenset[dt.date] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)

    def with_values(self, values: Mapping[str, Any], record_id: Any = None) -> EvalContext:
        """This context with other ``values`` and ``record_id``: what ``dataclasses.replace``
        gives, at a third of the cost (the record pipeline makes one a record)."""
        new = object.__new__(EvalContext)
        state = new.__dict__
        state.update(self.__dict__)
        state["values"] = values
        state["record_id"] = record_id
        return new


@dataclass(frozen=True)
class NameInfo:
    """A name an expression may use, for the static check: its type, its label, and — for a
    sub-form (``LIST`` of rows), an address or a related record — its columns."""

    type: ExprType
    label: str
    columns: Mapping[str, NameInfo] | None = None


class Env:
    """Per-evaluation state passed to every compiled closure (one per :func:`evaluate` call)."""

    __slots__ = ("_now", "ctx", "values")

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.values = ctx.values
        self._now: dt.datetime | None = None

    def now(self) -> dt.datetime:
        """The evaluation's clock, fixed for the whole evaluation, in the context's time zone."""
        if self._now is None:
            now = self.ctx.now
            if now is None:
                now = dt.datetime.now(self.ctx.timezone)
            elif now.tzinfo is None:
                now = now.replace(tzinfo=self.ctx.timezone)
            self._now = now.astimezone(self.ctx.timezone)
        return self._now

    def label(self, key: str) -> str:
        return self.ctx.labels.get(key, key)
