"""Every stable error code has both languages and is exercised by at least one test."""

from __future__ import annotations

import re
from pathlib import Path

import builder  # (registers every builder catalog)
import builder.diff
import builder.pydantic_messages  # noqa: F401
import runtime.approvals  # (registers the approval messages)
import runtime.escalation  # (registers the escalation messages)
import runtime.messages
import runtime.services  # (registers the services' messages)
import runtime.workflow  # noqa: F401  (registers the workflow messages)
from app.messages import MESSAGES as APP_MESSAGES
from builder.i18n import _CATALOG, LANGUAGES

TESTS = Path(__file__).resolve().parents[1]
# Message fragments that are not error codes (positions, change descriptions).
NOT_ERRORS = (
    {"at_position"}
    | {
        c
        for c in _CATALOG
        if c.startswith(("conversion_", "field_", "stage_", "transition_"))
        and c.endswith(
            ("_added", "_removed", "_lossless", "_checked", "_recomputed", "_impossible")
        )
    }
    | {"label_changed", "type_changed", "options_changed", "required_changed", "property_changed"}
    # What a not-found error names (runtime.errors.NotFoundError's kind), not codes.
    | {c for c in _CATALOG if c.startswith("kind_")}
    # The app's messages: tests/app/test_error_language.py checks those it raises.
    | set(APP_MESSAGES)
    # pydantic's error types (builder.pydantic_messages), not codes of ours.
    | {c for c in _CATALOG if c.startswith("v_")}
)


def _test_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in TESTS.rglob("test_*.py"))


def test_every_code_has_every_language() -> None:
    for code, texts in _CATALOG.items():
        assert set(LANGUAGES) <= set(texts), code
        assert all(texts[lang].strip() for lang in LANGUAGES), code


def test_every_error_code_is_exercised_by_a_test() -> None:
    text = _test_text()
    mentioned = set(re.findall(r"[\"']([a-z][a-z0-9_]+)[\"']", text))
    untested = sorted(c for c in _CATALOG if c not in NOT_ERRORS and c not in mentioned)
    assert untested == [], untested
