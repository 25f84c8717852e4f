"""App definitions (``stageform.app/1``): the forms, automations, dashboards and roles that make
one app — the unit of templates, export and import."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from builder.automation import AutomationDefinition
from builder.dashboard import DashboardDefinition
from builder.fields.base import Key
from builder.form import FormDefinition

FORMAT_APP = "stageform.app/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleDefinition(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)


class AppDefinition(_Strict):
    format: Literal["stageform.app/1"] = "stageform.app/1"
    key: Key
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    icon: str | None = Field(None, max_length=100)
    roles: list[RoleDefinition] = Field(default_factory=list, max_length=200)
    forms: list[FormDefinition] = Field(default_factory=list, max_length=200)
    automations: list[AutomationDefinition] = Field(default_factory=list, max_length=500)
    dashboards: list[DashboardDefinition] = Field(default_factory=list, max_length=100)

    def form(self, key: str) -> FormDefinition | None:
        return next((f for f in self.forms if f.key == key), None)


def dump_app(app: AppDefinition) -> dict[str, Any]:
    return app.model_dump(mode="json", by_alias=True, exclude_unset=True)
