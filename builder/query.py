"""The shapes of filters, sorts, group-bys and metrics — shared by list views, dashboards,
automations, exports and the query/aggregate API (DESIGN.md, "Query and aggregate bodies").

Only shapes live here; :func:`builder.validate.check_filter` checks them against a form, and the
runtime turns them into SQL.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

SYSTEM_FIELDS = ("id", "stage", "created_at", "created_by", "updated_at", "updated_by", "owner")

Operator = Literal[
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "empty",
    "not_empty",
    "today",
    "this_week",
    "this_month",
    "last_n_days",
    "next_n_days",
    "me",
    "my_department",
]
NO_VALUE_OPERATORS = frozenset(
    {"empty", "not_empty", "today", "this_week", "this_month", "me", "my_department"}
)
MAX_FILTER_DEPTH = 8
MAX_FILTER_CONDITIONS = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    field: str = Field(min_length=1, max_length=200)
    op: Operator
    value: Any = None


class AndFilter(_Strict):
    and_: list[Filter] = Field(alias="and", max_length=MAX_FILTER_CONDITIONS)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OrFilter(_Strict):
    or_: list[Filter] = Field(alias="or", max_length=MAX_FILTER_CONDITIONS)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Filter = Union[Condition, AndFilter, OrFilter]  # noqa: UP007  (recursive alias)
AndFilter.model_rebuild()
OrFilter.model_rebuild()


class Sort(_Strict):
    field: str = Field(min_length=1, max_length=200)
    dir: Literal["asc", "desc"] = "asc"


class GroupBy(_Strict):
    field: str = Field(min_length=1, max_length=200)
    bucket: Literal["day", "week", "month", "quarter", "year"] | None = None


class Metric(_Strict):
    op: Literal["count", "sum", "avg", "min", "max", "distinct"]
    field: str | None = Field(None, min_length=1, max_length=200)

    @property
    def name(self) -> str:
        """The key of this metric in an aggregate's ``values``: ``count``, ``sum_budget``…"""
        return self.op if self.field is None else f"{self.op}_{self.field}"


def iter_conditions(f: Filter | None) -> list[Condition]:
    """Every leaf condition of a filter tree, depth first."""
    if f is None:
        return []
    if isinstance(f, Condition):
        return [f]
    children = f.and_ if isinstance(f, AndFilter) else f.or_
    out: list[Condition] = []
    for child in children:
        out.extend(iter_conditions(child))
    return out


def filter_depth(f: Filter | None) -> int:
    if f is None or isinstance(f, Condition):
        return 0
    children = f.and_ if isinstance(f, AndFilter) else f.or_
    return 1 + max((filter_depth(c) for c in children), default=0)
