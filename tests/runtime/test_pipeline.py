"""The record pipeline (pure): coerce → defaults → lookups → formulas → visibility → validate.

The pipeline's only window on storage is the StoreAccess protocol; here it is a small
dict-backed implementation of that protocol. The store's own tests exercise the real one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import pytest

from builder import load_form, publish
from builder.fields.base import Source
from runtime.compiled import CompiledForm, compile_form
from runtime.errors import RecordValidationError
from runtime.pipeline import WriteContext, prepare_create, prepare_update
from tests.builder.factories import customer_form, order_form

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


class DictStore:
    """StoreAccess over plain dicts: {form_key: {id: data}} and serial counters."""

    def __init__(self, records: dict[str, dict[int, dict[str, Any]]] | None = None) -> None:
        self.records = records or {}
        self.counters: dict[tuple[str, str], int] = {}

    def existing_ids(self, form_key: str, ids: Collection[int]) -> set[int]:
        return {i for i in ids if i in self.records.get(form_key, {})}

    def existing_people(self, kind: str, ids: Collection[int]) -> set[int]:
        return set(ids)  # everyone exists here

    def related_value(self, form_key: str, record_id: int, field_key: str) -> Any:
        return self.records.get(form_key, {}).get(record_id, {}).get(field_key)

    def link_value(self, form_key: str, where: Mapping[str, Any], field_key: str) -> Any:
        for data in self.records.get(form_key, {}).values():
            if all(data.get(k) == v for k, v in where.items()):
                return data.get(field_key)
        return None

    def next_serial(self, field_key: str, period: str) -> int:
        n = self.counters.get((field_key, period), 0) + 1
        self.counters[(field_key, period)] = n
        return n


def _compiled(data: dict[str, Any], form_id: int = 1) -> CompiledForm:
    return compile_form(form_id, publish(load_form(data), 1))


CUSTOMER = _compiled(customer_form())
ORDER = _compiled(order_form(), 2)
CTX = WriteContext(actor_id=7, now=NOW)


def _codes(exc: pytest.ExceptionInfo[RecordValidationError]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in exc.value.errors}


def test_create_applies_defaults_serial_and_formula() -> None:
    store = DictStore()
    p = prepare_create(CUSTOMER, {"name": " 华为 ", "budget": "¥200,000"}, CTX, store, stage="new")
    assert p.data["name"] == "华为"
    assert p.data["grade"] == "C"  # literal default
    assert p.data["owner"] == 7  # CURRENT_USER() default
    assert p.data["code"] == "C202611-0001"  # serial, Asia/Shanghai month
    assert p.data["budget"] == 200000
    assert p.data["score"] == 20 + 20  # IF(grade…) + MIN(budget/10000, 50)
    assert p.unique == {"name": "华为"}
    assert p.changes["name"] == [None, "华为"]
    second = prepare_create(CUSTOMER, {"name": "腾讯"}, CTX, store)
    assert second.data["code"] == "C202611-0002"


def test_every_error_at_once_and_nothing_partial() -> None:
    raw = {
        "grade": "Z",
        "budget": "lots",
        "nope": 1,
        "score": 5,
        "stage": "won",
        "contacts": [{"title": "经理"}],
    }
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(CUSTOMER, raw, CTX, DictStore())
    codes = _codes(exc)
    assert ("grade", "invalid_option") in codes
    assert ("budget", "invalid_number") in codes
    assert ("nope", "unknown_field") in codes
    assert ("score", "field_not_writable") in codes
    assert ("stage", "stage_not_writable") in codes
    assert any(f.startswith("contacts[0]") for f, _ in codes)


def test_required_is_checked_after_visibility() -> None:
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(CUSTOMER, {}, CTX, DictStore())
    assert _codes(exc) == {("name", "required")}
    message = exc.value.errors[0].message
    assert message == "“客户名称”为必填项"


def test_hidden_values_are_not_kept() -> None:
    p = prepare_create(
        CUSTOMER, {"name": "A公司", "grade": "B", "vip_notes": "秘密"}, CTX, DictStore()
    )
    assert "vip_notes" not in p.data
    p = prepare_create(
        CUSTOMER, {"name": "A公司", "grade": "A", "vip_notes": "秘密"}, CTX, DictStore()
    )
    assert p.data["vip_notes"] == "秘密"


def test_rule_requires_a_field_when_it_holds() -> None:
    store = DictStore({"customer": {1: {"name": "华为", "grade": "A"}}})
    base = {"order_no": "SO-1", "customer": 1, "status": "进行中"}
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(ORDER, base, CTX, store)
    assert ("signed_on", "required") in _codes(exc)
    ok = prepare_create(ORDER, {**base, "signed_on": "2024年1月5日"}, CTX, store)
    assert ok.data["signed_on"] == "2024-01-05"


def test_relations_must_exist_and_lookups_copy_values() -> None:
    store = DictStore({"customer": {1: {"name": "华为", "grade": "A"}}})
    p = prepare_create(
        ORDER,
        {
            "order_no": "SO-1",
            "customer": 1,
            "qty": 2,
            "items": [{"sku": "X", "price": 10}, {"sku": "Y", "price": 5}],
        },
        CTX,
        store,
    )
    assert p.data["customer_grade"] == "A"
    assert p.data["total"] == 30
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(ORDER, {"order_no": "SO-2", "customer": 99}, CTX, store)
    assert _codes(exc) == {("customer", "relation_not_found")}


def test_update_is_partial_recomputes_and_reports_changes() -> None:
    store = DictStore()
    created = prepare_create(CUSTOMER, {"name": "华为", "budget": 100000}, CTX, store)
    p = prepare_update(CUSTOMER, created.data, {"grade": "A"}, CTX, store, record_id=1)
    assert p.data["score"] == 100 + 10
    assert p.changes == {"grade": ["C", "A"], "score": [30, 110]}
    assert p.unique == {}  # name unchanged: nothing to claim
    cleared = prepare_update(CUSTOMER, p.data, {"budget": None}, CTX, store, record_id=1)
    assert "budget" not in cleared.data


def test_update_outside_stage_editable_fields_is_refused() -> None:
    store = DictStore()
    created = prepare_create(CUSTOMER, {"name": "华为"}, CTX, store)
    with pytest.raises(RecordValidationError) as exc:
        prepare_update(
            CUSTOMER,
            created.data,
            {"grade": "B", "phone": "13812345678"},
            CTX,
            store,
            record_id=1,
            editable={"phone"},
        )
    assert _codes(exc) == {("grade", "not_editable_in_stage")}


def test_cells_are_read_leniently() -> None:
    ctx = WriteContext(actor_id=7, now=NOW, source=Source.CELL)
    p = prepare_create(
        CUSTOMER,
        {"name": "华为", "tags": "重点、渠道", "budget": "1.2万", "next_followup_at": 45296.5},
        ctx,
        DictStore(),
    )
    assert p.data["tags"] == ["重点", "渠道"]
    assert p.data["budget"] == 12000
    assert p.data["next_followup_at"] == "2024-01-05T04:00:00Z"


def test_formula_error_stores_blank_instead_of_refusing() -> None:
    data = order_form()
    data["fields"].append(
        {"key": "unit_price", "type": "formula", "label": "单价", "expr": "amount / qty"}
    )
    cf = _compiled(data, 3)
    p = prepare_create(cf, {"order_no": "SO-1", "amount": 100, "qty": 0}, CTX, DictStore())
    assert "unit_price" not in p.data
    p = prepare_create(cf, {"order_no": "SO-1", "amount": 100, "qty": 4}, CTX, DictStore())
    assert p.data["unit_price"] == 25


def test_subform_row_formulas_run_before_record_formulas() -> None:
    data = order_form()
    items = next(f for f in data["fields"] if f["key"] == "items")
    items["fields"].append({"key": "count", "type": "number", "label": "数量"})
    items["fields"].append(
        {
            "key": "line",
            "type": "formula",
            "label": "小计",
            "expr": "price * count",
            "result_type": "number",
        }
    )
    next(f for f in data["fields"] if f["key"] == "total")["expr"] = "SUM(items.line)"
    cf = _compiled(data, 4)
    p = prepare_create(
        cf,
        {
            "order_no": "SO-1",
            "items": [{"sku": "A", "price": 2.5, "count": 4}, {"sku": "B", "price": 1, "count": 3}],
        },
        CTX,
        DictStore(),
    )
    assert [row["line"] for row in p.data["items"]] == [10, 3]
    assert p.data["total"] == 13


def test_data_must_be_an_object() -> None:
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(CUSTOMER, ["name", "华为"], CTX, DictStore())
    assert _codes(exc) == {("data", "data_not_object")}


def test_read_only_fields_are_refused_from_people_but_not_from_automations() -> None:
    data = customer_form()
    next(f for f in data["fields"] if f["key"] == "grade")["read_only"] = True
    cf = _compiled(data, 5)
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(cf, {"name": "华为", "grade": "A"}, CTX, DictStore())
    assert _codes(exc) == {("grade", "read_only_field")}
    system = WriteContext(actor_id=None, now=NOW, enforce_read_only=False)
    assert (
        prepare_create(cf, {"name": "华为", "grade": "A"}, system, DictStore()).data["grade"] == "A"
    )


def test_stored_values_that_no_longer_fit_stay_until_rewritten() -> None:
    # data written by an older version (an option since removed) keeps the record editable
    current = {"name": "华为", "grade": "Z"}
    p = prepare_update(CUSTOMER, current, {"phone": "13812345678"}, CTX, DictStore(), record_id=1)
    assert p.data["grade"] == "Z"
    with pytest.raises(RecordValidationError) as exc:
        prepare_update(CUSTOMER, current, {"grade": "Y"}, CTX, DictStore(), record_id=1)
    assert _codes(exc) == {("grade", "invalid_option")}


def test_computed_values_that_break_the_schema_are_reported() -> None:
    # a formula whose declared result type and value disagree is caught by the schema
    data = customer_form()
    data["fields"].append(
        {
            "key": "big",
            "type": "formula",
            "label": "大数",
            "expr": "budget * 1",
            "result_type": "number",
        }
    )
    cf = _compiled(data, 6)
    cf.validator.schema["properties"]["big"]["maximum"] = 10  # a tighter schema than coercion
    from builder.schema import RecordValidator

    object.__setattr__(cf, "validator", RecordValidator(cf.validator.schema))
    with pytest.raises(RecordValidationError) as exc:
        prepare_create(cf, {"name": "华为", "budget": 100}, CTX, DictStore())
    assert ("big", "schema_violation") in _codes(exc)


def _defaults_form() -> CompiledForm:
    return _compiled(
        {
            "key": "visit",
            "name": "拜访",
            "title_field": "topic",
            "fields": [
                {"key": "topic", "type": "text", "label": "主题"},
                {"key": "by", "type": "user", "label": "人", "default": {"expr": "CURRENT_USER()"}},
                {"key": "on", "type": "date", "label": "日", "default": {"expr": "TODAY()"}},
                {"key": "late", "type": "number", "label": "晚", "default": {"expr": "1 / 0"}},
                {
                    "key": "echo",
                    "type": "text",
                    "label": "回",
                    "default": {"expr": "UPPER(topic)"},
                },
            ],
        },
        9,
    )


def test_defaults_that_read_no_field_are_worked_out_once_per_context() -> None:
    cf = _defaults_form()
    assert cf.constant_defaults == {"by", "on", "late"}  # "echo" reads topic
    batch = WriteContext(actor_id=7, now=NOW)
    first = prepare_create(cf, {"topic": "a"}, batch, DictStore())
    second = prepare_create(cf, {"topic": "b"}, batch, DictStore())
    for p, topic in ((first, "a"), (second, "b")):
        assert p.data["by"] == 7
        assert p.data["on"] == "2026-11-22"
        assert "late" not in p.data  # a default that cannot be computed stays blank, every time
        assert p.data["echo"] == topic.upper()
    # Another context (another writer, another moment) works them out again.
    other = WriteContext(actor_id=8, now=NOW + dt.timedelta(days=1))
    third = prepare_create(cf, {"topic": "c"}, other, DictStore())
    assert (third.data["by"], third.data["on"]) == (8, "2026-11-23")
    # A value given wins over the default, and a blank given stays blank.
    given = prepare_create(cf, {"topic": "d", "by": 9, "on": None}, batch, DictStore())
    assert given.data["by"] == 9 and "on" not in given.data  # blank: no key, as updates store


def test_a_constant_default_is_kept_as_stored_and_its_coercion_error_every_time() -> None:
    cf = _compiled(
        {
            "key": "visit2",
            "name": "拜访",
            "title_field": "topic",
            "fields": [
                {"key": "topic", "type": "text", "label": "主题"},
                {"key": "by", "type": "user", "label": "人", "default": {"expr": "CURRENT_USER()"}},
                {"key": "n", "type": "number", "label": "数", "default": {"expr": '"abc"'}},
            ],
        },
        10,
    )
    assert cf.constant_defaults == {"by", "n"}
    batch = WriteContext(actor_id=7, now=NOW, current_user={"id": 5, "name": "张三"})
    for topic in ("a", "b"):  # the coercion error is not kept: every record reports it
        with pytest.raises(RecordValidationError) as exc:
            prepare_create(cf, {"topic": topic}, batch, DictStore())
        assert [e.field for e in exc.value.errors] == ["n"]
    for topic in ("c", "d"):  # a user given as a mapping is stored as its id, record after record
        p = prepare_create(cf, {"topic": topic, "n": 1}, batch, DictStore())
        assert p.data["by"] == 5 and p.data["n"] == 1
