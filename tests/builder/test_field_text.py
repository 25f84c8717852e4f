"""textarea, rich_text, address, section, note (text itself is the worked example)."""

from __future__ import annotations

from typing import Any

import pytest

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type
from builder.value_types import StorageKind


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def test_textarea() -> None:
    ttype, field = get_type("textarea"), make("textarea")
    assert field.max_length is None
    assert ttype.coerce(field, " 第一行\r\n第二行 ") == "第一行\n第二行"
    assert ttype.coerce(field, 12, Source.CELL) == "12"
    assert ttype.coerce(field, "x" * 50_000) == "x" * 50_000
    with pytest.raises(CoercionError) as info:
        ttype.coerce(make("textarea", max_length=3), "abcd")
    assert info.value.code == "too_long"
    with pytest.raises(CoercionError):
        ttype.coerce(field, 12)
    bad = make("textarea", min_length=5, max_length=3)
    assert [p.code for p in ttype.check_config(bad)] == ["min_greater_than_max"]


def test_rich_text_keeps_html_and_displays_text() -> None:
    rtype, field = get_type("rich_text"), make("rich_text")
    html = "<p>客户&amp;伙伴</p><ul><li>一</li><li>二</li></ul><script>alert(1)</script>"
    assert rtype.coerce(field, html) == html  # sanitised by the runtime, not here
    assert rtype.display(field, html) == "客户&伙伴\n一\n二"
    assert rtype.export(field, "<b>粗</b>体") == "粗体"
    assert rtype.to_expr(field, "<p>a</p>") == "a"
    assert rtype.coerce(field, "<p><br></p>") is None
    assert rtype.coerce(field, '<p><img src="x.png"></p>') == '<p><img src="x.png"></p>'
    with pytest.raises(CoercionError):
        rtype.coerce(make("rich_text", max_length=10), "<p>" + "x" * 20 + "</p>")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("广东省深圳市南山区科技园1号",
         {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园1号"}),
        ("北京市朝阳区建国路88号",
         {"province": "北京市", "city": "北京市", "district": "朝阳区", "detail": "建国路88号"}),
        ("上海浦东新区世纪大道1号",
         {"province": "上海市", "city": "上海市", "district": "浦东新区", "detail": "世纪大道1号"}),
        ("江苏省苏州市昆山市前进路",
         {"province": "江苏省", "city": "苏州市", "district": "昆山市", "detail": "前进路"}),
        ("内蒙古自治区锡林郭勒盟", {"province": "内蒙古自治区", "city": "锡林郭勒盟"}),
        ("广西壮族自治区南宁市青秀区",
         {"province": "广西壮族自治区", "city": "南宁市", "district": "青秀区"}),
        ("浙江省 杭州市 西湖区 文三路",
         {"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路"}),
        ("香港特别行政区", {"province": "香港特别行政区"}),
        ("科技园1号", {"detail": "科技园1号"}),
        ({"province": "广东省", "city": " 深圳市 ", "district": ""},
         {"province": "广东省", "city": "深圳市"}),
    ],
)  # fmt: skip
def test_address_coercion(raw: Any, expected: dict[str, str]) -> None:
    atype, field = get_type("address"), make("address")
    for source in (Source.CELL, Source.HTML, Source.JSON):
        assert atype.coerce(field, raw, source) == expected


@pytest.mark.parametrize(
    "raw", [{"street": "x"}, {"city": 1}, {"city": ["深圳"]}, 12, ["广东省"], {"province": True}]
)
def test_address_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        get_type("address").coerce(make("address"), raw)
    assert info.value.code == "invalid_address"


def test_address_display_and_detail_flag() -> None:
    atype, field = get_type("address"), make("address")
    beijing = {"province": "北京市", "city": "北京市", "district": "朝阳区", "detail": "建国路88号"}
    assert atype.display(field, beijing) == "北京市朝阳区建国路88号"
    assert atype.export(field, beijing) == "北京市朝阳区建国路88号"
    assert atype.coerce(field, atype.export(field, beijing), Source.CELL) == beijing
    assert atype.coerce(field, {}) is None
    no_detail = make("address", detail=False)
    assert atype.coerce(no_detail, "广东省深圳市南山区") == {
        "province": "广东省", "city": "深圳市", "district": "南山区",
    }  # fmt: skip
    with pytest.raises(CoercionError) as info:
        atype.coerce(no_detail, "广东省深圳市南山区科技园")
    assert info.value.code == "address_detail_not_allowed"


@pytest.mark.parametrize("kind", ["section", "note"])
def test_layout_types(kind: str) -> None:
    ltype = get_type(kind)
    field = make(kind, **({"content": "请如实填写"} if kind == "note" else {"collapsed": True}))
    assert (ltype.has_value, ltype.accepts_input, ltype.storage) == (False, False, StorageKind.NONE)
    assert ltype.json_schema(field) == {}
    assert ltype.operators == frozenset()
    assert ltype.coerce(field, "anything") is None
    assert ltype.check_config(field) == []
