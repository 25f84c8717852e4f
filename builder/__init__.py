"""Stageform definitions: everything a user defines, as pydantic models over JSON.

Read this package alone to know every definition the product understands:

- :mod:`builder.fields` — the field-type registry (one module per type);
- :mod:`builder.form`, :mod:`builder.workflow` — forms, layout, rules, stages, transitions;
- :mod:`builder.automation`, :mod:`builder.dashboard`, :mod:`builder.app` — the rest of an app;
- :mod:`builder.query` — filter / sort / group-by / metric shapes;
- :mod:`builder.expr` — the expression language (formulas, defaults, rules, guards);
- :mod:`builder.validation` — every problem of a definition at once;
- :mod:`builder.schema` — a form version as JSON Schema, with a cached validator;
- :mod:`builder.diff` — changes between versions and how data follows them;
- :mod:`builder.errors` — the one exception tree.

It imports nothing of the runtime, the app, a database or the web.
"""

from builder.app import AppDefinition, dump_app
from builder.errors import (
    BuilderError,
    CoercionError,
    DefinitionError,
    ExpressionCheckError,
    ExpressionError,
    ExpressionEvalError,
    ExpressionSyntaxError,
    Problem,
    UnknownFieldTypeError,
)
from builder.form import FormDefinition, dump_form, load_form, publish
from builder.validation import app_problems, form_problems, validate_app, validate_form

__all__ = [
    "AppDefinition",
    "BuilderError",
    "CoercionError",
    "DefinitionError",
    "ExpressionCheckError",
    "ExpressionError",
    "ExpressionEvalError",
    "ExpressionSyntaxError",
    "FormDefinition",
    "Problem",
    "UnknownFieldTypeError",
    "app_problems",
    "dump_app",
    "dump_form",
    "form_problems",
    "load_form",
    "publish",
    "validate_app",
    "validate_form",
]
