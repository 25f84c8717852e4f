"""date and datetime: Chinese formats, Excel serials, time zones, display and export."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from builder.errors import CoercionError
from builder.fields import CoerceContext, Source, field_adapter, get_type

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = CoerceContext(timezone=ZoneInfo("America/New_York"))


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def coerce(kind: str, raw: Any, source: Source = Source.CELL, **ctx: Any) -> Any:
    field = make(kind)
    return get_type(kind).coerce(field, raw, source, CoerceContext(**ctx))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024/1/5", "2024-01-05"),
        ("2024-01-05", "2024-01-05"),
        ("2024年1月5日", "2024-01-05"),
        ("2024 年 1 月 5 日", "2024-01-05"),
        ("２０２４年１月５日", "2024-01-05"),
        ("2024.1.5", "2024-01-05"),
        ("20240105", "2024-01-05"),
        ("2024-01-05 12:00", "2024-01-05"),
        ("2024-01-05T23:30:00Z", "2024-01-06"),  # the date in Shanghai
        ("2024-01-05T12:00:00+08:00", "2024-01-05"),
        (dt.date(2024, 1, 5), "2024-01-05"),
        (dt.datetime(2024, 1, 5, 23, 59), "2024-01-05"),
        (45296, "2024-01-05"),
        (45296.75, "2024-01-05"),
        (1, "1900-01-01"),
        (59, "1900-02-28"),
        (61, "1900-03-01"),
        ("2024-02-29", "2024-02-29"),
    ],
)
def test_date_coercion(raw: Any, expected: str) -> None:
    assert coerce("date", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["abc", "2024-13-01", "2024-02-30", "2023-02-29", "2024/1", "5/1/2024", "2024-01-05 25:00",
     "2024-01-05x", 60, 0, -5, 3_000_000, True, {"d": 1}, float("nan")],
)  # fmt: skip
def test_date_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("date", raw)
    assert info.value.code == "invalid_date"


def test_excel_serials_only_from_cells() -> None:
    for source in (Source.JSON, Source.HTML):
        with pytest.raises(CoercionError):
            coerce("date", 45296, source)
    assert coerce("date", "2024-01-05", Source.JSON) == "2024-01-05"


def test_date_in_other_time_zone() -> None:
    field = make("date")
    assert get_type("date").coerce(field, "2024-01-05T03:00:00Z", Source.JSON, NEW_YORK) == (
        "2024-01-04"
    )


def test_date_min_max_and_expr() -> None:
    field = make("date", min="2024-01-01", max="2024-12-31")
    date = get_type("date")
    with pytest.raises(CoercionError) as info:
        date.coerce(field, "2023-12-31")
    assert info.value.code == "date_too_early"
    with pytest.raises(CoercionError):
        date.coerce(field, "2025-01-01")
    assert date.to_expr(field, "2024-01-05") == dt.date(2024, 1, 5)
    assert date.to_expr(field, None) is None
    assert date.display(field, "2024-01-05") == "2024-01-05"
    assert date.export(field, "2024-01-05") == "2024-01-05"
    codes = [p.code for p in date.check_config(make("date", min="2024-12-01", max="2024-01-01"))]
    assert codes == ["min_greater_than_max"]
    assert [p.code for p in date.check_config(make("date", min="2024-02-30"))] == ["invalid_date"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-05 12:00", "2024-01-05T04:00:00Z"),
        ("2024/1/5 12:00:30", "2024-01-05T04:00:30Z"),
        ("2024年1月5日 12:00", "2024-01-05T04:00:00Z"),
        ("2024年1月5日 12时30分", "2024-01-05T04:30:00Z"),
        ("2024年1月5日12点", "2024-01-05T04:00:00Z"),
        ("2024-01-05T12:00:00+08:00", "2024-01-05T04:00:00Z"),
        ("2024-01-05T04:00:00Z", "2024-01-05T04:00:00Z"),
        ("2024-01-05T04:00:00.999Z", "2024-01-05T04:00:00Z"),
        ("2024-01-05T12:00:00-0500", "2024-01-05T17:00:00Z"),
        ("2024-01-05", "2024-01-04T16:00:00Z"),  # local midnight
        ("2024/1/5 下午3:00", "2024-01-05T07:00:00Z"),
        ("2024/1/5 3:00 PM", "2024-01-05T07:00:00Z"),
        ("2024/1/5 12:00 AM", "2024-01-04T16:00:00Z"),
        (dt.datetime(2024, 1, 5, 12, 0), "2024-01-05T04:00:00Z"),
        (dt.datetime(2024, 1, 5, 12, 0, tzinfo=dt.UTC), "2024-01-05T12:00:00Z"),
        (dt.date(2024, 1, 5), "2024-01-04T16:00:00Z"),
        (45296.5, "2024-01-05T04:00:00Z"),  # Excel serial with a fraction: noon local
        (45296, "2024-01-04T16:00:00Z"),
    ],
)
def test_datetime_coercion(raw: Any, expected: str) -> None:
    assert coerce("datetime", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["2024-01-05 24:00", "2024-01-05 12:60", "2024-01-05 13:00 PM", "noon",
     "2024-01-05T12:00+25:00", "2024-01-05 12:00 foo", 60.5, True, [2024]],
)  # fmt: skip
def test_datetime_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("datetime", raw)
    assert info.value.code == "invalid_datetime"


def test_datetime_is_text_sortable() -> None:
    earlier = coerce("datetime", "2024-01-05 09:00")
    later = coerce("datetime", "2024-01-05T09:00:00Z")  # 17:00 in Shanghai
    assert earlier < later


def test_datetime_display_export_expr() -> None:
    field = make("datetime")
    dtype = get_type("datetime")
    assert dtype.display(field, "2024-01-05T04:00:00Z") == "2024-01-05 12:00"
    assert dtype.display(field, "2024-01-05T04:00:30Z") == "2024-01-05 12:00:30"
    assert dtype.display(field, "2024-01-05T04:00:00Z", "zh", NEW_YORK) == "2024-01-04 23:00"
    assert dtype.export(field, "2024-01-05T04:00:00Z") == "2024-01-05 12:00:00"
    value = dtype.to_expr(field, "2024-01-05T04:00:00Z")
    assert value == dt.datetime(2024, 1, 5, 12, tzinfo=SHANGHAI)
    assert value.tzinfo is not None
    # an export re-imports to the same value
    assert coerce("datetime", dtype.export(field, "2024-01-05T04:00:30Z")) == "2024-01-05T04:00:30Z"


def test_datetime_daylight_saving_zone() -> None:
    field = make("datetime")
    dtype = get_type("datetime")
    assert dtype.coerce(field, "2024-07-01 12:00", Source.CELL, NEW_YORK) == "2024-07-01T16:00:00Z"
    assert dtype.coerce(field, "2024-01-01 12:00", Source.CELL, NEW_YORK) == "2024-01-01T17:00:00Z"


@pytest.mark.parametrize(
    "raw",
    [
        "2024-01-05T04:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2024-02-29T12:30:05Z",
    ],
)
def test_a_stored_datetime_is_kept_as_given(raw: str) -> None:
    """The stored form comes back as given: the characters format_utc would write."""
    from builder.fields._dates import format_utc, parse_datetime

    for source in Source:
        assert coerce("datetime", raw, source) == raw
        assert format_utc(parse_datetime(raw, source, SHANGHAI)) == raw  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        "2023-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2024-01-05T24:00:00Z",
        "2024-13-01T00:00:00Z",
    ],
)
def test_a_stored_datetime_that_is_no_moment_is_refused(raw: str) -> None:
    with pytest.raises(CoercionError) as exc:
        coerce("datetime", raw, Source.JSON)
    assert exc.value.code == "invalid_datetime"


def test_a_stored_datetime_is_judged_as_its_parts_would_be() -> None:
    """canonical_moment (fromisoformat of the 19 characters) accepts and refuses what
    dt.datetime(year, month, day, hour, minute, second) of the digits does, and gives the same
    moment: every month and day number on years at the edges, every time on a leap day."""
    import datetime as dt

    from builder.fields._dates import canonical_moment, is_canonical_utc

    def by_parts(raw: str) -> dt.datetime | None:
        try:
            return dt.datetime(
                int(raw[0:4]), int(raw[5:7]), int(raw[8:10]),
                int(raw[11:13]), int(raw[14:16]), int(raw[17:19]), tzinfo=dt.UTC,
            )  # fmt: skip
        except ValueError:
            return None

    def ours(raw: str) -> dt.datetime | None:
        try:
            return canonical_moment(raw)
        except CoercionError as exc:
            assert exc.code == "invalid_datetime"
            return None

    texts = [
        f"{year}-{month:02d}-{day:02d}T00:00:00Z"
        for year in ("0000", "0001", "1900", "2023", "2024", "9999")
        for month in range(100)
        for day in range(100)
    ] + [
        f"2024-02-29T{hour:02d}:{minute:02d}:{second:02d}Z"
        for hour in range(100)
        for minute in range(100)
        for second in (0, 1, 59, 60, 99)
    ]
    refused = 0
    for raw in texts:
        assert is_canonical_utc(raw)
        expected = by_parts(raw)
        got = ours(raw)
        assert got == expected and (got is None or got.tzinfo is dt.UTC), raw
        refused += got is None
    assert 0 < refused < len(texts)
