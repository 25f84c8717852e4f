"""select, multi_select, checkbox."""

from __future__ import annotations

from typing import Any

import pytest

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


SOURCE_OPTIONS = [{"value": "web", "label": "官网"}, {"value": "referral", "label": "转介绍"},
                  {"value": "event", "label": "展会", "color": "#ff0000"}]  # fmt: skip


def select(**props: Any) -> Any:
    return make("select", options=props.pop("options", SOURCE_OPTIONS), **props)


@pytest.mark.parametrize(
    ("source", "raw", "expected"),
    [
        (Source.JSON, "web", "web"),
        (Source.JSON, " web ", "web"),
        (Source.HTML, "event", "event"),
        (Source.CELL, "web", "web"),
        (Source.CELL, "官网", "web"),
        (Source.CELL, " 转介绍 ", "referral"),
        (Source.CELL, "WEB", "web"),
        (Source.CELL, "Event", "event"),
    ],
)
def test_select_coercion(source: Source, raw: Any, expected: str) -> None:
    assert get_type("select").coerce(select(), raw, source) == expected


@pytest.mark.parametrize(
    ("source", "raw"),
    [(Source.JSON, "官网"), (Source.HTML, "官网"), (Source.JSON, "WEB"), (Source.CELL, "官"),
     (Source.JSON, 1), (Source.JSON, ["web"]), (Source.JSON, {"value": "web"}),
     (Source.CELL, True)],
)  # fmt: skip
def test_select_refuses(source: Source, raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        get_type("select").coerce(select(), raw, source)
    assert info.value.code == "invalid_option"


def test_select_numeric_cell_matches_string_option() -> None:
    field = make("select", options=["1", "2"])
    assert get_type("select").coerce(field, 2.0, Source.CELL) == "2"


def test_select_allow_other() -> None:
    field = select(allow_other=True)
    assert get_type("select").coerce(field, "朋友推荐") == "朋友推荐"
    assert get_type("select").coerce(field, "官网", Source.CELL) == "web"


def test_select_display_export_and_string_options() -> None:
    stype = get_type("select")
    assert stype.display(select(), "web") == "官网"
    assert stype.export(select(), "web") == "官网"
    grade = make("select", options=["A", "B"], default="A")
    assert stype.display(grade, "A") == "A"
    assert stype.default_value(grade) == "A"
    assert grade.model_dump(mode="json", exclude_unset=True)["options"] == ["A", "B"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], ["options_empty"]),
        (["A", "A"], ["options_duplicate"]),
        (["A", {"value": "A", "label": "甲"}], ["options_duplicate"]),
        (["A", " "], ["option_blank"]),
        (["A", "B"], []),
    ],
)
def test_select_check_config(options: list[Any], expected: list[str]) -> None:
    field = make("select", options=options)
    assert [p.code for p in get_type("select").check_config(field)] == expected
    assert [
        p.code for p in get_type("multi_select").check_config(make("multi_select", options=options))
    ] == expected


def test_select_invalid_default_is_a_problem() -> None:
    problems = get_type("select").check_config(make("select", options=["A"], default="Z"))
    assert [(p.path, p.code) for p in problems] == [("default", "invalid_default")]


def test_select_schema_is_an_enum() -> None:
    assert get_type("select").json_schema(select()) == {"enum": ["web", "referral", "event", None]}


def multi(**props: Any) -> Any:
    options = ["重点", "老客户", "渠道", {"value": "vip", "label": "VIP"}]
    return make("multi_select", options=options, **props)


@pytest.mark.parametrize(
    ("source", "raw", "expected"),
    [
        (Source.JSON, ["重点", "渠道"], ["重点", "渠道"]),
        (Source.JSON, ["渠道", "重点", "渠道"], ["渠道", "重点"]),
        (Source.HTML, ["重点"], ["重点"]),
        (Source.HTML, "重点", ["重点"]),
        (Source.CELL, "重点,老客户", ["重点", "老客户"]),
        (Source.CELL, "重点，老客户", ["重点", "老客户"]),
        (Source.CELL, "重点;渠道", ["重点", "渠道"]),
        (Source.CELL, "重点；渠道", ["重点", "渠道"]),
        (Source.CELL, "重点、渠道、vip", ["重点", "渠道", "vip"]),
        (Source.CELL, "重点\n渠道", ["重点", "渠道"]),
        (Source.CELL, " 重点 , , 重点 ", ["重点"]),
        (Source.CELL, "Vip", ["vip"]),
        (Source.JSON, ["", "重点"], ["重点"]),
    ],
)
def test_multi_select_coercion(source: Source, raw: Any, expected: list[str]) -> None:
    assert get_type("multi_select").coerce(multi(), raw, source) == expected


@pytest.mark.parametrize(
    ("source", "raw", "code"),
    [
        (Source.JSON, "重点", "not_list"),
        (Source.JSON, ["重点,渠道"], "invalid_option"),
        (Source.JSON, ["其他"], "invalid_option"),
        (Source.CELL, "重点,其他", "invalid_option"),
        (Source.JSON, [1], "invalid_option"),
        (Source.JSON, [["重点"]], "invalid_option"),
    ],
)
def test_multi_select_refuses(source: Source, raw: Any, code: str) -> None:
    with pytest.raises(CoercionError) as info:
        get_type("multi_select").coerce(multi(), raw, source)
    assert info.value.code == code


def test_multi_select_limits_display_export_expr() -> None:
    mtype = get_type("multi_select")
    field = multi(max_selected=2, min_selected=1)
    with pytest.raises(CoercionError) as info:
        mtype.coerce(field, ["重点", "渠道", "vip"])
    assert info.value.code == "too_many_selected"
    assert mtype.display(multi(), ["重点", "vip"]) == "重点、VIP"
    assert mtype.display(multi(), ["重点", "vip"], "en") == "重点, VIP"
    assert mtype.export(multi(), ["重点", "vip"]) == "重点, VIP"
    # the export re-imports to the same value
    assert mtype.coerce(multi(), "重点, VIP", Source.CELL) == ["重点", "vip"]
    assert mtype.to_expr(multi(), ["重点"]) == ["重点"]
    bad = make("multi_select", options=["A"], min_selected=3, max_selected=2)
    assert "min_greater_than_max" in [p.code for p in mtype.check_config(bad)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True), (False, False), ("true", True), ("FALSE", False), ("True", True),
        ("是", True), ("否", False), ("✓", True), ("✔", True), ("√", True), ("☑", True),
        ("✗", False), ("✘", False), ("×", False), ("1", True), ("0", False), (1, True),
        (0, False), (1.0, True), ("yes", True), ("No", False), ("y", True), ("N", False),
        ("on", True), ("off", False), ("对", True), ("错", False), (" 是 ", True),
    ],
)  # fmt: skip
def test_checkbox_coercion(raw: Any, expected: bool) -> None:
    field = make("checkbox")
    for source in Source:
        assert get_type("checkbox").coerce(field, raw, source) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", 2, -1, 0.5, "真的吗", ["是"], {"v": True}])
def test_checkbox_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        get_type("checkbox").coerce(make("checkbox"), raw, Source.CELL)
    assert info.value.code == "invalid_boolean"


def test_checkbox_display_and_export() -> None:
    ctype, field = get_type("checkbox"), make("checkbox")
    assert (ctype.display(field, True), ctype.display(field, False)) == ("是", "否")
    assert (ctype.display(field, True, "en"), ctype.display(field, False, "en")) == ("Yes", "No")
    assert ctype.export(field, False) is False
    assert ctype.coerce(field, "") is None
