"""The expression language: one Excel-like language for formulas, defaults, visibility rules,
transition guards and automation conditions.

::

    >>> from builder.expr import EvalContext, evaluate, parse
    >>> expr = parse('IF(amount > 10000, "大单", "普通")')
    >>> sorted(expr.references()), sorted(expr.functions())
    (['amount'], ['IF'])
    >>> evaluate(expr, EvalContext(values={"amount": 12000}))
    '大单'

- :func:`parse` turns text into an immutable :class:`Expression` (cached per text); the grammar
  is ``grammar.lark``. It raises :class:`~builder.errors.ExpressionSyntaxError`.
- :func:`check` checks an expression against the names a form defines, at save time, and
  returns its result type; it raises :class:`~builder.errors.ExpressionCheckError`.
- :func:`evaluate` computes a value; it raises :class:`~builder.errors.ExpressionEvalError`.

Values follow :mod:`builder.value_types`; blanks are ``None`` and behave as in Excel. Every error
carries a stable ``code`` (catalogued in :mod:`builder.expr.messages`), a ``position`` in the
source and messages in Chinese and English.
"""

from builder.expr.checker import check
from builder.expr.compiler import evaluate
from builder.expr.context import EvalContext, NameInfo
from builder.expr.parser import MAX_DEPTH, MAX_LENGTH, Expression, parse
from builder.expr.registry import FUNCTIONS
from builder.value_types import ExprType

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "EvalContext",
    "ExprType",
    "Expression",
    "NameInfo",
    "check",
    "evaluate",
    "parse",
]
