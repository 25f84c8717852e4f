"""Static checks at save time: every name and function resolves, arities fit, and types fit where
that is knowable without data. ``ANY`` never causes an error: the checker only refuses what
would fail (or be meaningless) for every record."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from builder.errors import ExpressionCheckError, ExpressionError, ExpressionSyntaxError
from builder.expr.compiler import describe
from builder.expr.context import NameInfo
from builder.expr.dates import parse_date_text
from builder.expr.messages import (
    FIELD_TYPE_TERMS,
    OPERATOR_TERMS,
    TYPE_TERMS,
    Term,
    arity_term,
    suggestion_term,
)
from builder.expr.nodes import Call, Chain, Group, Literal, Member, Name, Node, Unary, strip_groups
from builder.expr.parser import Expression, parse
from builder.expr.registry import FUNCTIONS, Arg
from builder.expr.values import parse_number_text
from builder.value_types import ExprType

T = ExprType
_DATES = (T.DATE, T.DATETIME)
_NOT_SCALAR = (T.LIST, T.RECORD, T.USER)


def check(
    expr: Expression | str, names: Mapping[str, NameInfo], *, field: str | None = None
) -> ExprType:
    """The result type of ``expr`` given the ``names`` a form defines (``ANY`` if unknowable).

    Raises:
        ExpressionSyntaxError: it does not parse.
        ExpressionCheckError: ``unknown_field_name``, ``unknown_function``, ``wrong_arity``,
            ``type_mismatch``, ``argument_type_mismatch``, ``no_members`` or
            ``unknown_column_name``; ``field`` and ``position`` are set, messages name fields by
            label.
    """
    try:
        expression = parse(expr) if isinstance(expr, str) else expr
    except ExpressionSyntaxError as exc:
        raise _with_field(exc, field) from None
    return _Checker(expression.source, names, field).infer(expression.tree)


def _with_field(exc: ExpressionError, field: str | None) -> ExpressionError:
    if field is None or exc.field == field:
        return exc
    return type(exc)(exc.code, source=exc.source, position=exc.position, field=field, **exc.params)


def _closest(name: str, infos: Mapping[str, NameInfo] | Iterable[str]) -> tuple[str, str] | None:
    """The key most like ``name`` — matching its label first (people type labels) — and its
    label."""
    if isinstance(infos, Mapping):
        for key, info in infos.items():
            if info.label.casefold() == name.casefold() or key.casefold() == name.casefold():
                return key, info.label
        by_label = {info.label: key for key, info in infos.items()}
        match = difflib.get_close_matches(name, list(infos), n=1, cutoff=0.6)
        if match:
            return match[0], infos[match[0]].label
        match = difflib.get_close_matches(name, list(by_label), n=1, cutoff=0.5)
        if match:
            return by_label[match[0]], match[0]
        return None
    options = list(infos)
    match = difflib.get_close_matches(name.upper(), options, n=1, cutoff=0.6)
    return (match[0], match[0]) if match else None


class _Checker:
    def __init__(self, source: str, names: Mapping[str, NameInfo], field: str | None) -> None:
        self.source = source
        self.names = names
        self.field = field

    def error(self, code: str, node: Node | int, **params: Any) -> ExpressionCheckError:
        position = node if isinstance(node, int) else node.start
        return ExpressionCheckError(
            code, source=self.source, position=position, field=self.field, **params
        )

    def label(self, node: Node) -> str:
        """A field's label, else the expression's text."""
        node = strip_groups(node)
        info = self.info(node) if isinstance(node, Name | Member) else None
        if info is not None:
            if isinstance(node, Member):
                return f"{self.label(node.obj)}.{info.label}"
            return info.label
        return describe(node, None, self.source)

    def info(self, node: Node) -> NameInfo | None:
        node = strip_groups(node)
        if isinstance(node, Name):
            return self.names.get(node.key)
        if isinstance(node, Member):
            parent = self.info(node.obj)
            if parent is not None and parent.columns is not None:
                return parent.columns.get(node.name)
        return None

    # -- inference -------------------------------------------------------------------------

    def infer(self, node: Node) -> ExprType:
        if isinstance(node, Literal):
            value = node.value
            if isinstance(value, bool):
                return T.BOOL
            return T.TEXT if isinstance(value, str) else T.NUMBER
        if isinstance(node, Group):
            return self.infer(node.inner)
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Member):
            return self.member(node)
        if isinstance(node, Unary):
            operand = self.infer(node.operand)
            if node.minus == 0:
                return operand
            self.expect_number(node.operand, operand, "-", None)
            return T.NUMBER
        if isinstance(node, Chain):
            return self.chain(node)
        if isinstance(node, Call):
            return self.call(node)
        return T.ANY  # pragma: no cover

    def name(self, node: Name) -> ExprType:
        info = self.names.get(node.key)
        if info is None:
            close = _closest(node.key, self.names)
            hint = suggestion_term(*close) if close else suggestion_term(None)
            raise self.error("unknown_field_name", node, name=node.key, hint=hint)
        return info.type

    def member(self, node: Member) -> ExprType:
        obj_type = self.infer(node.obj)
        parent = self.info(node.obj)
        if parent is not None and parent.columns is not None:
            column = parent.columns.get(node.name)
            if column is None:
                close = _closest(node.name, parent.columns)
                hint = suggestion_term(*close) if close else suggestion_term(None)
                raise self.error(
                    "unknown_column_name", node.name_start,
                    name=self.label(node.obj), column=node.name, hint=hint,
                )  # fmt: skip
            return T.LIST if parent.type == T.LIST else column.type
        if obj_type in (T.ANY, T.USER, T.RECORD) or (obj_type == T.LIST and parent is None):
            return T.ANY
        raise self.error("no_members", node.name_start, name=self.label(node.obj), member=node.name)

    # -- operators -------------------------------------------------------------------------

    def knowably_text(self, node: Node, kind: ExprType) -> bool:
        """Text that can never be a number: a non-numeric literal or a text field."""
        if kind != T.TEXT:
            return False
        bare = strip_groups(node)
        if isinstance(bare, Literal):
            return parse_number_text(bare.value) is None
        return isinstance(bare, Name | Member)

    def not_number(self, node: Node, kind: ExprType) -> bool:
        return kind in _NOT_SCALAR or kind in _DATES or self.knowably_text(node, kind)

    def mismatch(self, op: str, left: Node, lt: ExprType, right: Node, rt: ExprType) -> Exception:
        bad_right = self.not_number(right, rt) or rt in _DATES
        culprit = right if bad_right else left
        right_is_field = isinstance(strip_groups(right), Name | Member)
        return self.error(
            "type_mismatch",
            culprit,
            left=self.label(left),
            left_type=TYPE_TERMS[lt],
            right=self.label(right),
            right_type=(FIELD_TYPE_TERMS if right_is_field else TYPE_TERMS)[rt],
            op=OPERATOR_TERMS[op],
        )

    def expect_number(self, node: Node, kind: ExprType, op: str, other: Node | None) -> None:
        if self.not_number(node, kind):
            raise self.error(
                "argument_type_mismatch",
                node,
                function=op,
                index=1,
                expected=TYPE_TERMS[T.NUMBER],
                arg=self.label(node),
                actual=TYPE_TERMS[kind],
            )

    def chain(self, node: Chain) -> ExprType:
        types = [self.infer(op) for op in node.operands]
        if node.kind == "concat":
            return T.TEXT
        if node.kind == "compare":
            for i, (op, _) in enumerate(node.ops):
                if op in ("=", "<>"):
                    continue
                left, right = node.operands[i], node.operands[i + 1]
                lt, rt = (T.BOOL if i else types[0]), types[i + 1]
                if self.unorderable(left, lt, right, rt):
                    raise self.mismatch("compare", left, lt, right, rt)
            return T.BOOL
        acc = types[0]
        for i, (op, _) in enumerate(node.ops):
            left = node.operands[0] if i == 0 else Node(node.start, node.operands[i].end, 0)
            acc = self.arith(op, left, acc, node.operands[i + 1], types[i + 1])
        return acc

    def unorderable(self, left: Node, lt: ExprType, right: Node, rt: ExprType) -> bool:
        if lt in (T.LIST, T.RECORD) or rt in (T.LIST, T.RECORD):
            return True
        if (lt == T.NUMBER and rt in _DATES) or (rt == T.NUMBER and lt in _DATES):
            return True
        if (lt == T.NUMBER and rt == T.TEXT) or (rt == T.NUMBER and lt == T.TEXT):
            text = right if rt == T.TEXT else left
            bare = strip_groups(text)
            return isinstance(bare, Literal) and parse_number_text(bare.value) is None
        return False

    def arith(self, op: str, left: Node, lt: ExprType, right: Node, rt: ExprType) -> ExprType:
        if lt == T.ANY and rt == T.ANY:
            return T.ANY
        if op in ("+", "-") and (lt in _DATES or rt in _DATES):
            if op == "+" and lt in _DATES and rt in _DATES:
                raise self.mismatch(op, left, lt, right, rt)
            if op == "-" and rt in _DATES and lt not in _DATES and lt != T.ANY:
                raise self.mismatch(op, left, lt, right, rt)
            if op == "-" and lt in _DATES and rt in _DATES:
                return T.NUMBER
            date_side, other, other_type = (lt, right, rt) if lt in _DATES else (rt, left, lt)
            if other_type != T.ANY and self.not_number(other, other_type):
                raise self.mismatch(op, left, lt, right, rt)
            return date_side if other_type != T.ANY else T.ANY
        if self.not_number(left, lt) or self.not_number(right, rt):
            raise self.mismatch(op, left, lt, right, rt)
        if T.ANY in (lt, rt) and op in ("+", "-"):
            return T.ANY  # could be a date at run time
        return T.NUMBER

    # -- functions -------------------------------------------------------------------------

    def call(self, node: Call) -> ExprType:
        spec = FUNCTIONS.get(node.name)
        if spec is None:
            close = _closest(node.name, list(FUNCTIONS))
            hint = suggestion_term(close[0] if close else None)
            raise self.error("unknown_function", node, name=node.name, hint=hint)
        given = len(node.args)
        if node.name == "IFS" and given % 2:
            expected = Term("成对的（偶数个）", "pairs of (an even number of) arguments")
            raise self.error("wrong_arity", node, name=node.name, expected=expected, given=given)
        if given < spec.min_args or (spec.max_args is not None and given > spec.max_args):
            expected = arity_term(spec.min_args, spec.max_args)
            raise self.error("wrong_arity", node, name=node.name, expected=expected, given=given)
        types = [self.infer(arg) for arg in node.args]
        for i, (arg, kind) in enumerate(zip(node.args, types, strict=True)):
            wanted = self.bad_argument(spec.arg_kind(i), arg, kind)
            if wanted is not None:
                raise self.error(
                    "argument_type_mismatch",
                    arg,
                    function=node.name,
                    index=i + 1,
                    expected=TYPE_TERMS[wanted],
                    arg=self.label(arg),
                    actual=TYPE_TERMS[kind],
                )
        if node.name == "DATEADD":
            return self.dateadd_type(node, types)
        return spec.result_type(types)

    def bad_argument(self, want: Arg, node: Node, kind: ExprType) -> ExprType | None:
        """The type the argument should have had, when it knowably has the wrong one."""
        if kind == T.ANY:
            return None
        if want is Arg.NUMBER and self.not_number(node, kind):
            return T.NUMBER
        if want is Arg.VALUES and (kind in (T.RECORD, T.USER) or self.knowably_text(node, kind)):
            return T.NUMBER
        if want is Arg.DATE:
            if kind in (T.NUMBER, T.BOOL, *_NOT_SCALAR):
                return T.DATE
            bare = strip_groups(node)
            if (
                isinstance(bare, Literal)
                and isinstance(bare.value, str)
                and bare.value.strip()
                and parse_date_text(bare.value, _UTC) is None
            ):
                return T.DATE
        if want is Arg.BOOL and kind in (*_DATES, T.LIST, T.RECORD):
            return T.BOOL
        return None

    def dateadd_type(self, node: Call, types: list[ExprType]) -> ExprType:
        unit = strip_groups(node.args[2])
        if types[0] == T.DATETIME:
            return T.DATETIME
        if types[0] == T.DATE and isinstance(unit, Literal) and isinstance(unit.value, str):
            clock = unit.value.strip().lower() in ("hour", "hours", "h", "小时", "时", "minute",
                                                   "minutes", "n", "分钟", "分")  # fmt: skip
            return T.DATETIME if clock else T.DATE
        return T.ANY


_UTC = dt.UTC
