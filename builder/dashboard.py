"""Dashboard definitions (``stageform.dashboard/1``): dashboard-level filters and widgets whose
``filter``, ``group_by`` and ``metrics`` are the aggregate API's shapes (:mod:`builder.query`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from builder.fields.base import Key
from builder.query import Filter, GroupBy, Metric, Operator

FORMAT_DASHBOARD = "stageform.dashboard/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DashboardFilter(_Strict):
    field: str = Field(min_length=1, max_length=200)
    op: Operator
    value: Any = None
    label: str | None = Field(None, max_length=100)


class WidgetLayout(_Strict):
    x: int = Field(ge=0, le=11)
    y: int = Field(ge=0, le=1000)
    w: int = Field(ge=1, le=12)
    h: int = Field(ge=1, le=50)


class Widget(_Strict):
    key: Key
    type: Literal["metric", "bar", "line", "pie", "funnel", "table", "pivot", "area"]
    title: str = Field(min_length=1, max_length=200)
    form: Key
    filter: Filter | None = None
    group_by: list[GroupBy] = Field(default_factory=list, max_length=2)
    metrics: list[Metric] = Field(min_length=1, max_length=10)
    layout: WidgetLayout | None = None


class DashboardDefinition(_Strict):
    format: Literal["stageform.dashboard/1"] = "stageform.dashboard/1"
    key: Key
    name: str = Field(min_length=1, max_length=200)
    filters: list[DashboardFilter] = Field(default_factory=list, max_length=20)
    widgets: list[Widget] = Field(default_factory=list, max_length=50)
