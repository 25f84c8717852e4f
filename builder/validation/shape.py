"""Turning pydantic's shape errors into :class:`~builder.errors.Problem` entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from builder.fields.base import registered_types
from builder.validation.report import Report

_CODES = {
    "missing": "missing_property",
    "extra_forbidden": "unknown_property",
    "union_tag_invalid": "unknown_field_type",
    "union_tag_not_found": "missing_type",
    "literal_error": "invalid_choice",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "dict_type": "wrong_type",
    "list_type": "wrong_type",
    "string_type": "wrong_type",
    "int_type": "wrong_type",
    "int_parsing": "wrong_type",
    "float_type": "wrong_type",
    "float_parsing": "wrong_type",
    "bool_type": "wrong_type",
    "bool_parsing": "wrong_type",
}
_KEY_NAMES = {
    "key",
    "title_field",
    "to",
    "target",
    "form",
    "field",
    "relation",
    "stage",
    "reject_to",
    "approve_to",
    "role",
    "display_field",
    "transition",
}


def loc_to_path(loc: Sequence[int | str]) -> str:
    """``("fields", 3, "select", "options")`` → ``fields[3].options``.

    Pydantic inserts union members (a discriminator tag, a model name, ``function-after[…]``)
    into ``loc``; those are not part of the document and are dropped.
    """
    kinds = set(registered_types())
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            is_tag = isinstance(previous, int) and (
                part in kinds
                or part.endswith("_record")
                or part in {"notify", "send_email", "webhook"}
            )
            is_member = (
                part[:1].isupper()
                or "[" in part
                or part in {"str", "int", "float", "bool", "list", "dict"}
            )
            if not is_tag and not is_member:
                name = (
                    "from"
                    if part == "from_"
                    else ("and" if part == "and_" else "or" if part == "or_" else part)
                )
                out += f".{name}" if out else name
        previous = part
    return out


def add_validation_errors(report: Report, error: ValidationError, prefix: str = "") -> None:
    """Every error of ``error`` as a problem, one per distinct path and code."""
    seen: set[tuple[str, str]] = set()
    for detail in error.errors(include_url=False):
        path = loc_to_path(detail["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        code, params = _describe(detail)
        if (path, code) in seen:
            continue
        seen.add((path, code))
        report.add(path, code, **params)


def _describe(detail: ErrorDetails) -> tuple[str, dict[str, Any]]:
    kind = detail["type"]
    loc = detail["loc"]
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    value = detail.get("input")
    if kind == "extra_forbidden":
        return "unknown_property", {"name": last}
    if kind == "union_tag_invalid":
        ctx = detail.get("ctx") or {}
        return "unknown_field_type", {"type": ctx.get("tag", value)}
    if kind == "string_pattern_mismatch" and (last in _KEY_NAMES or isinstance(loc[-1], int)):
        return "invalid_key", {"value": str(value)[:80]}
    if kind == "literal_error":
        ctx = detail.get("ctx") or {}
        return "invalid_choice", {"expected": ctx.get("expected", "")}
    code = _CODES.get(kind, "invalid_property")
    return code, {"detail": detail["msg"]}
