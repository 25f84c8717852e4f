"""Automation definitions (``stageform.automation/1``): trigger → condition → actions.

Forms are named by key within the app; value expressions use the expression language and see
the triggering record's fields (``RECORD_ID()`` is its id).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from builder.fields.base import Key

FORMAT_AUTOMATION = "stageform.automation/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    """What starts an automation.

    ``record_created`` / ``record_updated`` / ``record_deleted``: on ``form``;
    ``field_changed``: on ``form`` when one of ``fields`` changes;
    ``stage_entered``: on ``form`` when a record enters ``stage``;
    ``schedule``: every ``every`` (``"day"`` at ``at`` "HH:MM", ``"hour"``, ``"week"``…);
    ``date_relative``: ``offset_hours`` before (negative) or after a date ``field`` of ``form``.
    """

    type: Literal[
        "record_created",
        "record_updated",
        "field_changed",
        "stage_entered",
        "record_deleted",
        "schedule",
        "date_relative",
    ]
    form: Key | None = None
    fields: list[Key] | None = Field(None, min_length=1, max_length=100)
    stage: Key | None = None
    every: Literal["hour", "day", "week", "month"] | None = None
    at: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    field: Key | None = None
    offset_hours: float | None = Field(None, ge=-24 * 366, le=24 * 366)

    @model_validator(mode="after")
    def _needs(self) -> Trigger:
        needs: dict[str, tuple[str, ...]] = {
            "record_created": ("form",),
            "record_updated": ("form",),
            "record_deleted": ("form",),
            "field_changed": ("form", "fields"),
            "stage_entered": ("form", "stage"),
            "schedule": ("every",),
            "date_relative": ("form", "field", "offset_hours"),
        }
        missing = [n for n in needs[self.type] if getattr(self, n) is None]
        if missing:
            raise ValueError(f"trigger {self.type} needs {', '.join(missing)}")
        return self


class Recipient(_Strict):
    """Exactly one of: a user field of the record, a role, named users, the record owner."""

    field: Key | None = None
    role: Key | None = None
    users: list[int] | None = Field(None, min_length=1, max_length=100)
    record_owner: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Recipient:
        if sum(getattr(self, k) is not None for k in type(self).model_fields) != 1:
            raise ValueError("name exactly one of field, role, users, record_owner")
        return self


Values = dict[Key, str]  # field key → expression
Channel = Literal["in_app", "email"]


class CreateRecord(_Strict):
    type: Literal["create_record"]
    form: Key
    values: Values = Field(default_factory=dict)


class UpdateRecord(_Strict):
    type: Literal["update_record"]
    target: Literal["trigger"] | Key = "trigger"
    values: Values = Field(min_length=1)


class Notify(_Strict):
    type: Literal["notify"]
    to: Recipient
    channels: list[Channel] = Field(default_factory=lambda: list[Channel](["in_app"]), min_length=1)
    title: str = Field(min_length=1, max_length=2000)
    body: str | None = Field(None, max_length=10000)


class SendEmail(_Strict):
    type: Literal["send_email"]
    to: Recipient
    subject: str = Field(min_length=1, max_length=2000)
    body: str = Field(min_length=1, max_length=20000)


class Webhook(_Strict):
    type: Literal["webhook"]
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    fields: list[Key] | None = None


Action = Annotated[
    Union[CreateRecord, UpdateRecord, Notify, SendEmail, Webhook],  # noqa: UP007
    Field(discriminator="type"),
]


class AutomationDefinition(_Strict):
    format: Literal["stageform.automation/1"] = "stageform.automation/1"
    key: Key
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Trigger
    condition: str | None = Field(None, max_length=4000)
    actions: list[Action] = Field(min_length=1, max_length=20)
