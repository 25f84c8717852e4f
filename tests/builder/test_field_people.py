"""user, users, department, relation."""

from __future__ import annotations

from typing import Any

import pytest

from builder.errors import CoercionError
from builder.fields import CoerceContext, Source, field_adapter, get_type
from builder.fields.base import ARRAY_OPERATORS, EQUALITY_OPERATORS
from builder.value_types import ExprType, StorageKind

PEOPLE = {"张三": 1, "zhang@example.com": 1, "李四": 2}
NAMES = {1: "张三", 2: "李四"}
DEPARTMENTS = {"销售部": 10}
CTX = CoerceContext(
    resolve_user=PEOPLE.get,
    resolve_department=DEPARTMENTS.get,
    describe_user=NAMES.get,
    describe_department={10: "销售部"}.get,
)


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def coerce(kind: str, raw: Any, source: Source, ctx: CoerceContext = CTX, **props: Any) -> Any:
    return get_type(kind).coerce(make(kind, **props), raw, source, ctx)


@pytest.mark.parametrize(
    ("source", "raw", "expected"),
    [
        (Source.JSON, 3, 3),
        (Source.JSON, "3", 3),
        (Source.JSON, {"id": 3}, 3),
        (Source.JSON, {"id": 3, "name": "王五"}, 3),
        (Source.HTML, "12", 12),
        (Source.CELL, 12.0, 12),
        (Source.CELL, "张三", 1),
        (Source.CELL, " zhang@example.com ", 1),
        (Source.CELL, "４", 4),
    ],
)
def test_user_coercion(source: Source, raw: Any, expected: int) -> None:
    assert coerce("user", raw, source) == expected


@pytest.mark.parametrize(
    ("source", "raw", "ctx"),
    [
        (Source.CELL, "王五", CTX),
        (Source.CELL, "张三", CoerceContext()),  # no resolver: only ids
        (Source.JSON, "张三", CTX),  # names only from spreadsheets
        (Source.JSON, 0, CTX),
        (Source.JSON, -3, CTX),
        (Source.JSON, True, CTX),
        (Source.JSON, 1.5, CTX),
        (Source.JSON, {"name": "张三"}, CTX),
        (Source.JSON, [1], CTX),
        (Source.JSON, "9" * 40, CTX),
    ],
)
def test_user_refuses(source: Source, raw: Any, ctx: CoerceContext) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("user", raw, source, ctx)
    assert info.value.code == "unknown_user"


def test_user_display_and_export_use_names() -> None:
    utype, field = get_type("user"), make("user")
    assert utype.display(field, 1, "zh", CTX) == "张三"
    assert utype.display(field, 99, "zh", CTX) == "99"
    assert utype.display(field, 1) == "1"
    assert utype.export(field, 2, CTX) == "李四"
    assert utype.coerce(field, utype.export(field, 2, CTX), Source.CELL, CTX) == 2
    assert utype.expr_type is ExprType.USER
    assert "me" in utype.operators


@pytest.mark.parametrize(
    ("source", "raw", "expected"),
    [
        (Source.JSON, [1, 2, 1], [1, 2]),
        (Source.JSON, [{"id": 2}, "1"], [2, 1]),
        (Source.HTML, ["3", "4"], [3, 4]),
        (Source.HTML, "3", [3]),
        (Source.CELL, "张三, 李四", [1, 2]),
        (Source.CELL, "张三、李四；5", [1, 2, 5]),
        (Source.CELL, 7, [7]),
    ],
)
def test_users_coercion(source: Source, raw: Any, expected: list[int]) -> None:
    assert coerce("users", raw, source) == expected


def test_users_refuses_and_limits() -> None:
    with pytest.raises(CoercionError) as info:
        coerce("users", 1, Source.JSON)
    assert info.value.code == "not_list"
    with pytest.raises(CoercionError) as info:
        coerce("users", "张三, 王五", Source.CELL)
    assert (info.value.code, info.value.params) == ("unknown_user", {"value": "王五"})
    with pytest.raises(CoercionError) as info:
        coerce("users", [1, 2, 3], Source.JSON, max_count=2)
    assert info.value.code == "too_many_selected"
    utype = get_type("users")
    assert utype.display(make("users"), [1, 2], "zh", CTX) == "张三、李四"
    assert utype.export(make("users"), [1, 2], CTX) == "张三, 李四"
    assert utype.expr_type is ExprType.LIST
    assert utype.storage is StorageKind.ARRAY


def test_department() -> None:
    assert coerce("department", "销售部", Source.CELL) == 10
    assert coerce("department", "10", Source.HTML) == 10
    with pytest.raises(CoercionError) as info:
        coerce("department", "研发部", Source.CELL)
    assert info.value.code == "unknown_department"
    dtype = get_type("department")
    assert dtype.display(make("department"), 10, "zh", CTX) == "销售部"
    assert "my_department" in dtype.operators


def test_relation_single() -> None:
    field = make("relation", target="customer", display_field="name")
    rtype = get_type("relation")
    assert rtype.coerce(field, 5) == 5
    assert rtype.coerce(field, "5", Source.HTML) == 5
    assert rtype.coerce(field, {"id": 5}) == 5
    for bad in ("abc", [5], 0, True, {"x": 1}):
        with pytest.raises(CoercionError) as info:
            rtype.coerce(field, bad)
        assert info.value.code == "invalid_record_id"
    assert rtype.storage_for(field) is StorageKind.NUMBER
    assert rtype.operators_for(field) == EQUALITY_OPERATORS
    assert rtype.display(field, 5) == "#5"


def test_relation_multiple() -> None:
    field = make("relation", target="product", multiple=True, max_count=3)
    rtype = get_type("relation")
    assert rtype.coerce(field, [3, "4", {"id": 3}]) == [3, 4]
    assert rtype.coerce(field, "3, 4；5", Source.CELL) == [3, 4, 5]
    assert rtype.coerce(field, "3", Source.HTML) == [3]
    with pytest.raises(CoercionError) as info:
        rtype.coerce(field, 3)
    assert info.value.code == "not_list"
    with pytest.raises(CoercionError) as info:
        rtype.coerce(field, [1, 2, 3, 4])
    assert info.value.code == "too_many_selected"
    assert rtype.storage_for(field) is StorageKind.ARRAY
    assert rtype.expr_type_for(field) is ExprType.LIST
    assert rtype.operators_for(field) == EQUALITY_OPERATORS | ARRAY_OPERATORS
    assert rtype.export(field, [3, 4]) == "3, 4"
    single_with_max = make("relation", target="product", max_count=3)
    assert [p.code for p in rtype.check_config(single_with_max)] == ["max_count_single"]


def test_relation_requires_a_target_key() -> None:
    with pytest.raises(ValueError):
        make("relation")
    with pytest.raises(ValueError):
        make("relation", target="Not A Key")
