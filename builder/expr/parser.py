"""Parsing: source text → :class:`Expression` (an AST plus its compiled evaluator).

The grammar is ``grammar.lark``, parsed by lark's LALR(1) parser with the AST built in the
parser's reduce callbacks: no recursion, so no input can hit Python's recursion limit. Anything
lark raises becomes an :class:`~builder.errors.ExpressionSyntaxError`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from builder.errors import ExpressionError, ExpressionSyntaxError
from builder.expr import messages as _messages  # noqa: F401  (registers the catalogs)
from builder.expr.messages import NO_TERM, Term
from builder.expr.nodes import Call, Chain, Group, Literal, Member, Name, Node, Unary, walk

MAX_LENGTH = 4000
MAX_DEPTH = 64

_FULL_WIDTH = "（），＂“”＋－＊／＜＞＝＆．"


class _TooLarge(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


def _start(tok: Token) -> int:
    return tok.start_pos or 0


def _end(tok: Token) -> int:
    return tok.end_pos or 0


def _height(*nodes: Node) -> int:
    return 1 + max((n.height for n in nodes), default=0)


class _Builder:
    """lark reduce callbacks: each turns a rule's children into an AST node."""

    def number(self, children: list[Token]) -> Node:
        tok = children[0]
        text = str(tok)
        value: int | float
        if any(c in text for c in ".eE"):
            value = float(text)
            if value in (float("inf"), float("-inf")):
                raise _TooLarge(tok)
        else:
            value = int(text)
            if value > 2**63:  # beyond this a number is a double, as in Excel
                try:
                    value = float(value)
                except OverflowError:
                    raise _TooLarge(tok) from None
        return Literal(_start(tok), _end(tok), 1, value)

    def string(self, children: list[Token]) -> Node:
        tok = children[0]
        return Literal(_start(tok), _end(tok), 1, str(tok)[1:-1].replace('""', '"'))

    def name(self, children: list[Token]) -> Node:
        tok = children[0]
        upper = str(tok).upper()
        if upper in ("TRUE", "FALSE"):
            return Literal(_start(tok), _end(tok), 1, upper == "TRUE")
        return Name(_start(tok), _end(tok), 1, str(tok))

    def call(self, children: list[Any]) -> Node:
        name_tok, args, rpar = children[0], children[2:-1], children[-1]
        arg_nodes: tuple[Node, ...] = tuple(args[0]) if args else ()
        return Call(
            _start(name_tok), _end(rpar), _height(*arg_nodes), str(name_tok).upper(), arg_nodes
        )

    def arguments(self, children: list[Node]) -> list[Node]:
        return children

    def group(self, children: list[Any]) -> Node:
        lpar, inner, rpar = children
        return Group(_start(lpar), _end(rpar), _height(inner), inner)

    def unary(self, children: list[Any]) -> Node:
        sign, operand = children
        minus = 1 if sign == "-" else 0
        if isinstance(operand, Unary):  # fold sign runs: `--x` is one node
            minus += operand.minus
            operand = operand.operand
        return Unary(_start(sign), operand.end, _height(operand), minus, operand)

    def postfix(self, children: list[Any]) -> Node:
        node: Node = children[0]
        for tok in children[1:]:
            node = Member(node.start, _end(tok), node.height + 1, node, str(tok), _start(tok))
        return node

    @staticmethod
    def _chain(kind: str, children: list[Any]) -> Node:
        operands = tuple(children[0::2])
        ops = tuple((str(t), _start(t)) for t in children[1::2])
        return Chain(operands[0].start, operands[-1].end, _height(*operands), kind, operands, ops)

    def comparison(self, children: list[Any]) -> Node:
        return self._chain("compare", children)

    def concat(self, children: list[Any]) -> Node:
        return self._chain("concat", children)

    def additive(self, children: list[Any]) -> Node:
        return self._chain("add", children)

    def multiplicative(self, children: list[Any]) -> Node:
        return self._chain("mul", children)

    def power(self, children: list[Any]) -> Node:
        return self._chain("pow", children)


_lock = threading.Lock()
_parser: Lark | None = None


def _get_parser() -> Lark:
    global _parser
    with _lock:
        if _parser is None:
            grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
            _parser = Lark(
                grammar,
                parser="lalr",
                lexer="contextual",
                transformer=_Builder(),
                maybe_placeholders=False,
            )
        return _parser


class Expression:
    """A parsed expression: ``source``, its AST ``tree`` and a compiled evaluator.

    Immutable and shared: :func:`parse` caches one instance per source text.
    """

    __slots__ = ("_functions", "_references", "evaluator", "source", "tree")

    source: str
    tree: Node
    evaluator: Callable[[Any], Any]
    _references: frozenset[str]
    _functions: frozenset[str]

    def __init__(self, source: str, tree: Node) -> None:
        from builder.expr.compiler import compile_tree

        refs: set[str] = set()
        funcs: set[str] = set()
        for node in walk(tree):
            if isinstance(node, Name):
                refs.add(node.key)
            elif isinstance(node, Call):
                funcs.add(node.name)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "tree", tree)
        object.__setattr__(self, "_references", frozenset(refs))
        object.__setattr__(self, "_functions", frozenset(funcs))
        object.__setattr__(self, "evaluator", compile_tree(tree, source))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expression is immutable")

    def references(self) -> frozenset[str]:
        """Top-level names the expression reads (``items.amount`` → ``"items"``)."""
        return self._references

    def functions(self) -> frozenset[str]:
        """Names of the functions it calls, upper-case."""
        return self._functions

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


@functools.lru_cache(maxsize=4096)
def _parse_cached(source: str) -> Expression:
    return Expression(source, _parse_tree(source))


def parse(source: str) -> Expression:
    """Parse ``source`` (cached per source text).

    Raises:
        ExpressionSyntaxError: it cannot be parsed, is empty, longer than 4,000 characters or
            nested deeper than 64 levels (codes ``expression_too_long``, ``expression_too_deep``,
            ``unexpected_character``, ``unexpected_token``, ``unexpected_end``…).
    """
    if not isinstance(source, str):
        raise ExpressionSyntaxError("empty_expression", source="")
    return _parse_cached(source)


def _parse_tree(source: str) -> Node:
    if len(source) > MAX_LENGTH:
        raise ExpressionSyntaxError(
            "expression_too_long", source=source, position=MAX_LENGTH,
            length=len(source), max=MAX_LENGTH,
        )  # fmt: skip
    if not source.strip():
        raise ExpressionSyntaxError("empty_expression", source=source, position=0)
    try:
        tree: Node = _get_parser().parse(source)  # type: ignore[assignment]
    except ExpressionError:
        raise
    except _TooLarge as exc:
        raise ExpressionSyntaxError(
            "number_literal_too_large",
            source=source,
            position=exc.token.start_pos,
            text=str(exc.token),
        ) from None
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    except Exception:  # anything else lark or Python might raise: never let it escape
        raise ExpressionSyntaxError("unexpected_end", source=source, position=len(source)) from None
    if tree.height > MAX_DEPTH:
        node = tree
        for _ in range(MAX_DEPTH):
            node = max(node.children(), key=lambda n: n.height)
        raise ExpressionSyntaxError(
            "expression_too_deep", source=source, position=node.start, max=MAX_DEPTH
        )
    return tree


def _syntax_error(source: str, exc: UnexpectedInput) -> ExpressionSyntaxError:
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        return ExpressionSyntaxError("unexpected_end", source=source, position=len(source))
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        return ExpressionSyntaxError(
            "unexpected_token", source=source, position=tok.start_pos, token=str(tok)[:30]
        )
    pos = exc.pos_in_stream if isinstance(exc, UnexpectedCharacters) else None
    pos = pos if isinstance(pos, int) else len(source)
    char = source[pos] if pos < len(source) else ""
    if char == '"':
        return ExpressionSyntaxError("unterminated_string", source=source, position=pos)
    hint = NO_TERM
    if char in _FULL_WIDTH:
        hint = Term("，请改用英文半角符号", "; use the half-width (English) symbol instead")
    return ExpressionSyntaxError(
        "unexpected_character", source=source, position=pos, char=char, hint=hint
    )
