"""Options shared by ``select`` and ``multi_select``.

An option is a plain string (value and label at once) or ``{"value", "label", "color"}``;
strings stay strings on a round trip. The stored value is always the option's ``value``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from builder.errors import CoercionError, Problem
from builder.fields._common import cell_to_text, nfkc, preview
from builder.fields.base import FieldConfig, Source


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(max_length=200)
    label: str | None = Field(None, max_length=200)
    color: str | None = Field(None, max_length=32)


OptionSpec = str | Option


class OptionsConfig(FieldConfig):
    """Properties shared by option fields; ``options`` is declared by each subclass."""

    options: list[Any]
    allow_other: bool = False


def option_value(option: OptionSpec) -> str:
    return option if isinstance(option, str) else option.value


def option_label(option: OptionSpec) -> str:
    return option if isinstance(option, str) else (option.label or option.value)


def values(field: OptionsConfig) -> list[str]:
    return [option_value(o) for o in field.options]


# The option values of a config object, worked out once (configs are immutable):
# id → (the config, kept so the id stays its own; its values).
_KNOWN: dict[int, tuple[OptionsConfig, frozenset[str]]] = {}


def known_values(field: OptionsConfig) -> frozenset[str]:
    """The option values of ``field`` (worked out once per config object)."""
    return _known(field)


def _known(field: OptionsConfig) -> frozenset[str]:
    found = _KNOWN.get(id(field))
    if found is None or found[0] is not field:
        found = (field, frozenset(values(field)))
        if len(_KNOWN) >= 1024:
            _KNOWN.clear()
        _KNOWN[id(field)] = found
    return found[1]


def label_of(field: OptionsConfig, value: str) -> str:
    for option in field.options:
        if option_value(option) == value:
            return option_label(option)
    return value


def match_option(field: OptionsConfig, raw: Any, source: Source) -> str:
    """One raw choice → an option value.

    JSON and HTML name the value exactly (surrounding blanks ignored); a spreadsheet cell may
    also name the label, in any case. ``allow_other`` lets any text through.

    Raises:
        CoercionError: ``invalid_option`` with ``value``.
    """
    text = cell_to_text(raw) if source is Source.CELL else raw
    if not isinstance(text, str):
        raise CoercionError("invalid_option", value=preview(raw))
    text = text.strip()
    if text in _known(field):
        return text
    if source is Source.CELL:
        folded = nfkc(text).casefold()
        for option in field.options:
            if folded in (
                nfkc(option_value(option)).casefold(),
                nfkc(option_label(option)).casefold(),
            ):
                return option_value(option)
    if field.allow_other and text and len(text) <= 200:
        return text
    raise CoercionError("invalid_option", value=text[:50])


def option_problems(field: OptionsConfig) -> list[Problem]:
    problems: list[Problem] = []
    if not field.options:
        problems.append(Problem("options", "options_empty", "there are no options"))
    seen: set[str] = set()
    for i, value in enumerate(values(field)):
        if not value.strip():
            problems.append(Problem(f"options[{i}]", "option_blank", "an option is blank"))
        elif value in seen:
            problems.append(
                Problem(
                    f"options[{i}]",
                    "options_duplicate",
                    f"option {value!r} appears twice",
                    {"value": value},
                )
            )
        seen.add(value)
    return problems


def options_enum(field: OptionsConfig) -> list[str]:
    """The distinct option values, in order (for a JSON Schema ``enum``)."""
    return list(dict.fromkeys(values(field)))
