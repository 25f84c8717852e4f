"""email, phone, url."""

from __future__ import annotations

import re
from typing import Any

import pytest

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type
from builder.fields.phone import PHONE_PATTERN


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def coerce(kind: str, raw: Any, source: Source = Source.CELL, **props: Any) -> Any:
    return get_type(kind).coerce(make(kind, **props), raw, source)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zhang@example.com", "zhang@example.com"),
        ("  Zhang.San@Example.COM ", "Zhang.San@example.com"),
        ("zhang＠example．com", "zhang@example.com"),
        ("张三 <zhang@example.com>", "zhang@example.com"),
        ("mailto:li+tag@mail.example.cn", "li+tag@mail.example.cn"),
        ("a_b-c@sub-domain.example.org", "a_b-c@sub-domain.example.org"),
    ],
)
def test_email_coercion(raw: str, expected: str) -> None:
    assert coerce("email", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["zhang", "zhang@", "@example.com", "zhang@example", "zh ang@example.com", "a@b.c",
     "a..b@example.com", "a@-example.com", "a@example..com", "a@@example.com", "张三@例子.中国",
     "a" * 65 + "@example.com", 12, True],
)  # fmt: skip
def test_email_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("email", raw, Source.JSON)
    assert info.value.code == "invalid_email"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 138-1234-5678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("0086 138 1234 5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        (13812345678, "13812345678"),
        (13812345678.0, "13812345678"),
        ("010-12345678", "010-12345678"),
        ("(010) 1234 5678", "010-12345678"),
        ("（0755）1234567", "0755-1234567"),
        ("(0755)1234567", "0755-1234567"),
        ("0755 12345678", "0755-12345678"),
        ("075512345678", "0755-12345678"),
        ("01012345678", "010-12345678"),
        ("021 6123 4567", "021-61234567"),
        ("010-12345678-123", "010-12345678-123"),
        ("010-12345678转123", "010-12345678-123"),
        ("0755-1234567 转 8001", "0755-1234567-8001"),
        ("010-12345678 ext. 12", "010-12345678-12"),
        ("+86 10 12345678", "010-12345678"),
        ("400-123-4567", "4001234567"),
        ("800 123 4567", "8001234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_phone_coercion(raw: Any, expected: str) -> None:
    assert coerce("phone", raw) == expected
    assert re.fullmatch(PHONE_PATTERN, expected)
    assert coerce("phone", expected, Source.JSON) == expected  # normalised is a fixed point


@pytest.mark.parametrize(
    "raw",
    ["12345", "abc", "123-4567-8901", "238 1234 5678", "1381234567", "138123456789",
     "0755-0123456", "0755-123456", "+86 123", "+0 123456789", "+12345", "13812345678转1",
     "400-123-456", "+44 20 7946 0958 转 1", "phone: 13812345678", 13812345678],
)  # fmt: skip
def test_phone_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("phone", raw, Source.JSON)
    assert info.value.code == "invalid_phone"


def test_phone_kinds() -> None:
    assert coerce("phone", "13812345678", kinds=["mobile"]) == "13812345678"
    with pytest.raises(CoercionError) as info:
        coerce("phone", "010-12345678", kinds=["mobile"])
    assert info.value.code == "phone_kind_not_allowed"
    assert get_type("phone").sample(make("phone", kinds=["landline"])) == "0755-12345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.example.com", "https://www.example.com"),
        ("www.a.com/x", "https://www.a.com/x"),
        ("a.com:8080/x?y=1", "https://a.com:8080/x?y=1"),
        ("//cdn.a.com/x.js", "https://cdn.a.com/x.js"),
        ("HTTP://A.COM/Path", "http://a.com/Path"),
        ("https://例子.中国/搜索?q=华为", "https://例子.中国/搜索?q=华为"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/"),
        ("localhost:3000", "https://localhost:3000"),
    ],
)
def test_url_coercion(raw: str, expected: str) -> None:
    assert coerce("url", raw, Source.HTML) == expected


@pytest.mark.parametrize(
    "raw",
    ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>", "ftp://a.com",
     "mailto:a@b.com", "file:///etc/passwd", "vbscript:x", "http://", "https:///x", "abc",
     "http://a b.com", "https://user:pw@a.com", "https://a.com:99999", "http://a",
     "https://a.com/\nx", "http:\\\\a.com", 12],
)  # fmt: skip
def test_url_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("url", raw, Source.JSON)
    assert info.value.code == "invalid_url"


def test_url_max_length() -> None:
    with pytest.raises(CoercionError) as info:
        coerce("url", "https://a.com/" + "x" * 2000)
    assert info.value.code == "too_long"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("a@b.cn", "a@b.cn"), ("A.b+c@x-y.example.com", "A.b+c@x-y.example.com"),
     ("A@B.CN", "A@b.cn"), ("ａ@b.cn", "a@b.cn"), (" a@b.cn ", "a@b.cn"),
     ("x" * 64 + "@a.cn", "x" * 64 + "@a.cn"), ("x" * 65 + "@a.cn", None),
     ("a@" + ("b" * 60 + ".") * 5 + "cn", None)],
)  # fmt: skip
def test_an_email_already_as_stored_is_kept_and_the_limits_still_hold(
    raw: str, stored: str | None
) -> None:
    from builder.fields.email import normalize_email

    for source in (Source.JSON, Source.HTML, Source.CELL):
        if stored is None:
            with pytest.raises(CoercionError):
                normalize_email(raw, source)
        else:
            assert normalize_email(raw, source) == stored
