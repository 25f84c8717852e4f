"""A form version compiled to the JSON Schema (Draft 2020-12) of a record's ``data``.

:func:`compile_schema` builds the schema; :func:`validator_for` returns a cached
:class:`RecordValidator` for a form. The validator checks with a generated validator
(fastjsonschema) first and, only when that finds a problem, asks ``jsonschema`` — the
reference implementation — for every error with its path. A differential test keeps the two in
agreement; the keywords the field types emit are the ones both implement the same way.

Fields that are required only under a visibility rule or a stage are not ``required`` here: the
record pipeline checks them after it has evaluated visibility.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as JSONSchemaError

from builder.fields import type_of
from builder.form import FormDefinition, dump_form

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None


def _is_datetime(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uri(value: str) -> bool:
    return re.fullmatch(r"https?://[^\s]+", value) is not None


# One table of format checks, given to both validators so that they cannot disagree.
FORMATS: dict[str, Callable[[str], bool]] = {
    "email": lambda v: _EMAIL.fullmatch(v) is not None,
    "date": _is_date,
    "date-time": _is_datetime,
    "uri": _is_uri,
}


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    for name, check in FORMATS.items():
        checker.checks(name)(
            lambda value, _check=check: not isinstance(value, str) or _check(value)
        )
    return checker


FORMAT_CHECKER = _format_checker()


def compile_schema(form: FormDefinition) -> dict[str, Any]:
    """The JSON Schema of ``form``'s record data (passes ``Draft202012Validator.check_schema``)."""
    conditional = _conditionally_shown(form)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in form.value_fields():
        t = type_of(f)
        properties[f.key] = {"title": f.label, **t.json_schema(f)}
        if f.required and t.accepts_input and f.key not in conditional:
            required.append(f.key)
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": form.name,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _conditionally_shown(form: FormDefinition) -> set[str]:
    keys = {f.key for f in form.fields if f.visible_when or f.hidden_when}
    for rule in form.rules:
        keys.update(rule.show, rule.hide)
    if form.workflow is not None:
        for stage in form.workflow.stages:
            keys.update(stage.hidden or [])
    return keys


@dataclass(frozen=True)
class SchemaViolation:
    """One way a record's data breaks the schema: ``path`` like ``contacts[0].contact_name``."""

    path: str
    keyword: str
    message: str


# Keywords that describe and constrain nothing.
_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples", "default"})


class RecordValidator:
    """Validates record data against a compiled schema; see the module docstring."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        Draft202012Validator.check_schema(schema)
        fast_schema = _for_fastjsonschema({k: v for k, v in schema.items() if k != "$schema"})
        self._fast = fastjsonschema.compile(fast_schema, formats=FORMATS, use_default=False)
        self._reference = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
        # Generated validators of the schema without some properties (see is_valid_except).
        self._partial: dict[frozenset[str], Callable[[Any], Any] | None] = {}

    def is_valid(self, data: Any) -> bool:
        try:
            self._fast(data)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def is_valid_except(self, proven: frozenset[str], data: Mapping[str, Any]) -> bool:
        """:meth:`is_valid` for a record ``data`` whose values of the ``proven`` properties are
        known to be valid, and whose keys are properties and include every required one (as
        the record pipeline guarantees): only the other properties are checked. True whenever
        :meth:`is_valid` would be; so callers ask :meth:`violations` only when this is False."""
        if proven not in self._partial:
            # (a schema of annotations only, e.g. a formula's without a result type, accepts
            # every value)
            properties = {
                k: v
                for k, v in self.schema.get("properties", {}).items()
                if k not in proven and not (isinstance(v, dict) and set(v) <= _ANNOTATIONS)
            }
            self._partial[proven] = (
                fastjsonschema.compile(
                    _for_fastjsonschema({"type": "object", "properties": properties}),
                    formats=FORMATS,
                    use_default=False,
                )
                if properties
                else None
            )
        check = self._partial[proven]
        if check is None:
            return True
        try:
            check(data)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def violations(self, data: Any) -> list[SchemaViolation]:
        """Every violation (empty when valid), from the reference validator."""
        if self.is_valid(data):
            return []
        return [_violation(e) for e in self._reference.iter_errors(data)]

    def reference_violations(self, data: Any) -> list[SchemaViolation]:
        """Every violation according to jsonschema alone (the oracle)."""
        return [_violation(e) for e in self._reference.iter_errors(data)]


def _for_fastjsonschema(node: Any) -> Any:
    """fastjsonschema rewrites every unescaped ``$`` of a ``pattern`` to ``\\Z`` — inside a
    ``[...]`` set too, where ``\\Z`` is an error. Escaping those ``$`` keeps the meaning."""
    if isinstance(node, dict):
        return {
            k: (
                _escape_class_dollars(v)
                if k == "pattern" and isinstance(v, str)
                else _for_fastjsonschema(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_for_fastjsonschema(v) for v in node]
    return node


def _escape_class_dollars(pattern: str) -> str:
    out: list[str] = []
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
        elif ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        elif ch == "$" and in_class:
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _violation(error: JSONSchemaError) -> SchemaViolation:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = re.search(r"'([^']+)' is a required property", error.message)
        if missing:
            path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = re.findall(r"'([^']+)'", error.message)
        if extra:
            path = f"{path}.{extra[0]}" if path else extra[0]
    return SchemaViolation(path, str(error.validator), error.message)


def fingerprint(form: FormDefinition) -> str:
    """A digest of the definition: equal definitions, equal fingerprints."""
    canonical = json.dumps(dump_form(form), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_CACHE: dict[str, RecordValidator] = {}
_CACHE_SIZE = 1024


def validator_for(form: FormDefinition) -> RecordValidator:
    """The validator of ``form``'s record data, compiled once per distinct definition.

    Callers on a hot path keep the returned validator with the form version they loaded.
    """
    digest = fingerprint(form)
    validator = _CACHE.get(digest)
    if validator is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        validator = _CACHE[digest] = RecordValidator(compile_schema(form))
    return validator
