"""subform: rows keyed by column, per-column coercion with paths, config problems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type
from builder.fields.base import DEFAULT_CONTEXT
from builder.fields.subform import SubformConfig
from builder.fields.text import TextConfig
from tests.builder.factories import example

CONTACTS = [
    {"key": "contact_name", "type": "text", "label": "姓名", "required": True},
    {"key": "title", "type": "text", "label": "职务"},
    {"key": "mobile", "type": "phone", "label": "手机"},
    {"key": "qty", "type": "number", "label": "数量"},
    {"key": "total", "type": "formula", "label": "小计", "expr": "qty * 2"},
]


def make(**props: Any) -> Any:
    return field_adapter.validate_python(
        {"key": "contacts", "type": "subform", "label": "联系人", "fields": CONTACTS, **props}
    )


def coerce(raw: Any, source: Source = Source.JSON, **props: Any) -> Any:
    return get_type("subform").coerce(make(**props), raw, source)


def test_columns_are_typed_definitions() -> None:
    field = make()
    assert isinstance(field, SubformConfig)
    assert isinstance(field.fields[0], TextConfig)
    assert field.model_dump(mode="json", exclude_unset=True)["fields"] == CONTACTS


def test_example_subform_loads() -> None:
    definition = example("customer.json")  # the in-repo copy of the contract example
    contacts = next(f for f in definition["fields"] if f["key"] == "contacts")
    field = field_adapter.validate_python(contacts)
    assert get_type("subform").check_config(field) == []


def test_rows_are_coerced_per_column() -> None:
    rows = coerce([
        {"contact_name": " 张三 ", "mobile": "+86 138-1234-5678", "qty": "1,200"},
        {"contact_name": "", "title": None},  # entirely blank: dropped
        {"contact_name": "李四", "title": "经理", "total": 99},  # computed columns are ignored
    ])  # fmt: skip
    assert rows == [
        {"contact_name": "张三", "mobile": "13812345678", "qty": 1200},
        {"contact_name": "李四", "title": "经理"},
    ]
    assert coerce(rows) == rows


def test_html_rows_may_come_as_json_text() -> None:
    assert coerce(json.dumps([{"contact_name": "张三"}]), Source.HTML) == [{"contact_name": "张三"}]


@pytest.mark.parametrize(
    ("raw", "code", "path"),
    [
        ([{"contact_name": "a"}, {"contact_name": "b"}, {"contact_name": "c", "mobile": "12"}],
         "invalid_phone", "[2].mobile"),
        ([{"contact_name": "a", "nickname": "x"}], "unknown_column", "[0].nickname"),
        ([{"title": "经理"}], "column_required", "[0].contact_name"),
        ([{"contact_name": "a", "qty": "abc"}], "invalid_number", "[0].qty"),
        ([{"contact_name": 5}], "not_text", "[0].contact_name"),
        (["张三"], "invalid_row", "[0]"),
        ({"contact_name": "a"}, "invalid_rows", ""),
        ("张三", "invalid_rows", ""),
    ],
)  # fmt: skip
def test_row_errors_have_paths(raw: Any, code: str, path: str) -> None:
    with pytest.raises(CoercionError) as info:
        coerce(raw)
    assert (info.value.code, info.value.path) == (code, path)


def test_nested_paths_join() -> None:
    field = field_adapter.validate_python({
        "key": "s", "type": "subform", "label": "S",
        "fields": [{"key": "files", "type": "attachment", "label": "附件"}],
    })  # fmt: skip
    with pytest.raises(CoercionError) as info:
        get_type("subform").coerce(field, [{"files": [{"id": "x"}]}])
    assert (info.value.code, info.value.path) == ("invalid_file", "[0].files[0]")


def test_row_limits_and_cells() -> None:
    one = {"contact_name": "a"}
    with pytest.raises(CoercionError) as info:
        coerce([one], min_rows=2)
    assert info.value.code == "too_few_rows"
    with pytest.raises(CoercionError) as info:
        coerce([one, one, one], max_rows=2)
    assert (info.value.code, info.value.params) == ("too_many_rows", {"max": 2})
    with pytest.raises(CoercionError) as info:
        coerce("张三", Source.CELL)
    assert info.value.code == "not_importable"
    assert coerce([{"contact_name": "a", "qty": 2.0}], Source.CELL) == [
        {"contact_name": "a", "qty": 2}
    ]


def test_display_export_expr() -> None:
    stype, field = get_type("subform"), make()
    rows = [{"contact_name": "张三", "qty": 1200}, {"contact_name": "李四"}]
    assert stype.display(field, rows) == "姓名：张三；数量：1,200\n姓名：李四"
    assert stype.display(field, rows, "en") == "姓名: 张三; 数量: 1,200\n姓名: 李四"
    assert stype.export(field, rows) == "姓名：张三；数量：1,200\n姓名：李四"
    assert stype.to_expr(field, rows)[1] == {
        "contact_name": "李四", "title": None, "mobile": None, "qty": None, "total": None,
    }  # fmt: skip


def test_schema_rows() -> None:
    schema = get_type("subform").json_schema(make())
    items = schema["items"]
    assert items["required"] == ["contact_name"]
    assert items["additionalProperties"] is False
    assert set(items["properties"]) == {"contact_name", "title", "mobile", "qty", "total"}


@pytest.mark.parametrize(
    ("columns", "props", "expected"),
    [
        ([], {}, [("fields", "subform_empty")]),
        ([{"key": "inner", "type": "subform", "label": "内", "fields": []}], {},
         [("fields[0]", "nested_subform")]),
        ([{"key": "s", "type": "section", "label": "分组"}], {},
         [("fields[0]", "column_type_not_allowed")]),
        ([{"key": "no", "type": "serial", "label": "编号"}], {},
         [("fields[0]", "column_type_not_allowed")]),
        # a column's own properties are the definition validator's walk, not repeated here
        ([{"key": "g", "type": "select", "label": "G", "options": []}], {}, []),
        ([{"key": "a", "type": "text", "label": "A"}], {"min_rows": 3, "max_rows": 2},
         [("min_rows", "min_greater_than_max")]),
        ([{"key": "c", "type": "relation", "label": "客户", "target": "customer"},
          {"key": "f", "type": "formula", "label": "F", "expr": "1"}], {}, []),
        # what the runtime does not apply in a row is refused, not ignored
        ([{"key": "l", "type": "lookup", "label": "L", "relation": "c", "field": "name"}], {},
         [("fields[0]", "column_type_not_allowed")]),
        ([{"key": "a", "type": "text", "label": "A", "default": "x", "visible_when": "b"}], {},
         [("fields[0].default", "column_property_not_supported"),
          ("fields[0].visible_when", "column_property_not_supported")]),
    ],
)  # fmt: skip
def test_check_config(
    columns: list[dict[str, Any]], props: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    field = field_adapter.validate_python(
        {"key": "s", "type": "subform", "label": "S", "fields": columns, **props}
    )
    problems = get_type("subform").check_config(field)
    assert [(p.path, p.code) for p in problems] == expected


def test_unknown_column_type_is_refused_by_the_union() -> None:
    with pytest.raises(ValueError):
        field_adapter.validate_python(
            {"key": "s", "type": "subform", "label": "S",
             "fields": [{"key": "x", "type": "nope", "label": "X"}]}
        )  # fmt: skip


# --- the row coercion against the code it replaced ------------------------------------------


def _reference_coerce(field: Any, raw: Any, source: Source) -> Any:
    """SubformFieldType.coerce as it was before its per-config coercer (frozen)."""
    from builder.fields._common import is_blank
    from builder.fields.subform import MAX_ROWS, _join, _plan, _rows

    if is_blank(raw):
        return None
    _, columns, required = _plan(field)
    rows: list[dict[str, Any]] = []
    for index, raw_row in enumerate(_rows(raw, source)):
        if is_blank(raw_row):
            continue
        if not isinstance(raw_row, dict):
            raise CoercionError("invalid_row", path=f"[{index}]")
        row: dict[str, Any] = {}
        for key, raw_value in raw_row.items():
            if not isinstance(key, str) or key not in columns:
                raise CoercionError(
                    "unknown_column", path=f"[{index}].{str(key)[:64]}", column=str(key)[:64]
                )
            entry = columns[key]
            if entry is None:
                continue
            column, column_coerce = entry
            try:
                value = column_coerce(column, raw_value, source, DEFAULT_CONTEXT)
            except CoercionError as exc:
                raise CoercionError(
                    exc.code, path=_join(index, key, exc.path), **exc.params
                ) from None
            if value is not None:
                row[key] = value
        if row:
            for key, label in required:
                if key not in row:
                    raise CoercionError("column_required", path=f"[{index}].{key}", column=label)
        if row:
            rows.append(row)
    if not rows:
        return None
    if len(rows) < field.min_rows:
        raise CoercionError("too_few_rows", min=field.min_rows)
    limit = field.max_rows or MAX_ROWS
    if len(rows) > limit:
        raise CoercionError("too_many_rows", max=limit)
    return rows


class _Row(dict):  # type: ignore[type-arg]
    """A dict subclass: a row like any other."""


CELLS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 300)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        ["", "  ", "张三", "13812345678", "+86 138-1234-5678", "0755-٣234567", "x" * 30, "3", "1,5"]
    )
)
ROW = st.dictionaries(
    st.sampled_from(["contact_name", "title", "mobile", "qty", "total", "nope", 3]),  # type: ignore[list-item]
    CELLS | st.lists(CELLS, max_size=2),
    max_size=4,
)
RAW_ROWS = (
    st.lists(ROW | ROW.map(_Row) | CELLS | st.lists(CELLS, max_size=1), max_size=4)
    | st.lists(ROW, max_size=3).map(json.dumps)
    | st.lists(ROW, max_size=3).map(tuple)
    | CELLS
    | st.just({})
)


@pytest.mark.parametrize("props", [{}, {"min_rows": 2, "max_rows": 3}, {"max_rows": 1}])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=RAW_ROWS)
def test_rows_are_coerced_as_before(props: dict[str, Any], raw: Any) -> None:
    """coerce and the per-config coercer give the previous coerce's rows or error (code,
    path, parameters), from every source."""
    field = make(**props)
    ftype = get_type("subform")

    def outcome(fn: Any, source: Source) -> Any:
        try:
            value = fn(field, raw, source)
        except CoercionError as exc:
            return ("error", exc.code, exc.path, dict(exc.params))
        return ("ok", repr(value))

    for source in Source:
        expected = outcome(_reference_coerce, source)
        assert outcome(ftype.coerce, source) == expected, (raw, source)
        assert outcome(ftype.coercer(field), source) == expected, (raw, source)
