"""The record pipeline gives what it gave before its per-form plans (tests/runtime/pipeline_before.py,
the code as it was): the same stored data, history changes and unique claims for valid input, the
same errors (field, code, message, parameters, in order) for invalid input.

Thousands of generated inputs over the CRM and order templates' forms, the contract example, the
builder test forms, a form with every field type and one with rules, defaults of every kind,
sub-form row formulas, relations and lookups; creates and updates; JSON, HTML and cell input;
with and without read-only enforcement.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from builder import load_form, publish
from builder.fields import registered_types, type_of
from builder.fields.base import CoerceContext, Source
from runtime import pipeline
from runtime.compiled import CompiledForm, compile_form
from runtime.errors import RecordValidationError
from tests.builder.factories import customer_form, example, followup_form, order_form
from tests.runtime import pipeline_before
from tests.runtime.test_pipeline import DictStore

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


def _template_forms(name: str) -> list[dict[str, Any]]:
    data = json.loads((ROOT / "templates_lib" / name / "template.json").read_text("utf-8"))
    return list(data["forms"])


def _all_types_form() -> dict[str, Any]:
    fields: list[dict[str, Any]] = [{"key": "title", "type": "text", "label": "标题"}]
    for kind, t in sorted(registered_types().items()):
        config: dict[str, Any] = {"key": f"f_{kind}", "type": kind, "label": kind}
        if kind in ("select", "multi_select"):
            config["options"] = ["A", "B", {"value": "c", "label": "丙"}]
        elif kind == "subform":
            config["fields"] = [
                {"key": "x", "type": "number", "label": "X", "required": True},
                {"key": "note", "type": "rich_text", "label": "注"},
                {"key": "y", "type": "formula", "label": "Y", "expr": "x * 2"},
            ]
        elif kind == "relation":
            config["target"] = "other"
        elif kind == "lookup":
            config["relation"] = "f_relation"
            config["field"] = "name"
        elif kind == "formula":
            config["expr"] = "f_number + 1"
            config["result_type"] = "number"
        elif kind == "serial":
            config["pattern"] = "N{SEQ:3}"
        elif kind == "note":
            config["content"] = "说明"
        if not t.has_value:
            continue
        fields.append(config)
    fields += [
        {"key": "t_pattern", "type": "text", "label": "编码", "pattern": "^[A-Z]+$", "max_length": 5},
        {"key": "t_min", "type": "textarea", "label": "长文", "min_length": 3, "max_length": 8},
        {"key": "s_other", "type": "select", "label": "其他", "options": ["A"], "allow_other": True},
        {"key": "m_other", "type": "multi_select", "label": "多", "options": ["A", "B"],
         "allow_other": True, "max_selected": 2, "min_selected": 1},
        {"key": "n_int", "type": "number", "label": "整", "precision": 0, "min": -5, "max": 50},
        {"key": "n_money", "type": "money", "label": "钱", "min": 0, "max": 1000},
        {"key": "ro", "type": "text", "label": "只读", "read_only": True},
        {"key": "p_mobile", "type": "phone", "label": "手", "kinds": ["mobile"]},
        {"key": "d_range", "type": "date", "label": "期", "min": "2024-01-01", "max": "2030-12-31"},
    ]  # fmt: skip
    return {"key": "all", "name": "全部类型", "title_field": "title", "fields": fields}


def _rules_form() -> dict[str, Any]:
    return {
        "key": "visit",
        "name": "拜访",
        "title_field": "topic",
        "fields": [
            {"key": "topic", "type": "text", "label": "主题", "required": True},
            {"key": "kind", "type": "select", "label": "类", "options": ["上门", "电话"],
             "default": "电话"},
            {"key": "address", "type": "text", "label": "地址", "required": True},
            {"key": "minutes", "type": "number", "label": "分钟", "hidden_when": 'kind = "电话"'},
            {"key": "by", "type": "user", "label": "人", "default": {"expr": "CURRENT_USER()"}},
            {"key": "on", "type": "date", "label": "日", "default": {"expr": "TODAY()"}},
            {"key": "late", "type": "number", "label": "晚", "default": {"expr": "1 / 0"}},
            {"key": "echo", "type": "text", "label": "回", "default": {"expr": "UPPER(topic)"}},
            {"key": "cust", "type": "relation", "label": "客户", "target": "other"},
            {"key": "city", "type": "text", "label": "城",
             "default": {"link": {"form": "other", "where": {"name": "topic"}, "field": "city"}}},
            {"key": "cost", "type": "money", "label": "费"},
            {"key": "per_min", "type": "formula", "label": "每分", "expr": "cost / minutes",
             "result_type": "number", "precision": 2},
            {"key": "at", "type": "formula", "label": "时", "expr": "NOW()",
             "result_type": "datetime"},
            {"key": "lines", "type": "subform", "label": "行", "fields": [
                {"key": "qty", "type": "number", "label": "数"},
                {"key": "price", "type": "money", "label": "价"},
                {"key": "sum", "type": "formula", "label": "计", "expr": "qty * price"},
            ]},
            {"key": "total", "type": "formula", "label": "总", "expr": "SUM(lines.sum)"},
        ],
        "rules": [
            {"when": 'kind = "上门"', "show": ["address"], "require": ["minutes"]},
            {"when": "cost > 100", "hide": ["echo"]},
            {"when": "1 / minutes > 1", "show": ["on"]},
        ],
    }  # fmt: skip


def _hostile_form() -> dict[str, Any]:
    """Keys named like the generated code's own names and Python keywords; labels, options,
    defaults and expression literals with quotes, newlines, code and length: all data."""
    return {
        "key": "hostile",
        "name": '"""; import os #',
        "title_field": "data",
        "fields": [
            {"key": "data", "type": "text", "label": '"); raise SystemExit #\n', "required": True,
             "default": 'x"y\n'},
            {"key": "c1", "type": "select", "label": "'''", "options": ['"', "a'b", "\\n\n",
             "__import__('os')", "长" * 90], "default": "__import__('os')"},
            {"key": "lambda", "type": "text", "label": "{0}{c1}%s",
             "default": {"expr": '"__import__(""os"")" & data'}},
            {"key": "import", "type": "formula", "label": "\\x00",
             "expr": 'IF(c1 = "__import__(\'os\')", 1, 2) + LEN(data)', "result_type": "number"},
            {"key": "class", "type": "text", "label": "类", "required": True,
             "visible_when": 'data <> "\\"); x"'},
            {"key": "errors", "type": "multi_select", "label": "e", "options": ["'", '"', "\r\n"]},
            {"key": "v1", "type": "subform", "label": "v", "fields": [
                {"key": "cf", "type": "text", "label": "\"", "required": True},
                {"key": "ctx", "type": "number", "label": "'"},
                {"key": "store", "type": "formula", "label": "s", "expr": "ctx * 2"},
            ]},
            {"key": "return", "type": "formula", "label": "r", "expr": "SUM(v1.store)"},
            {"key": "values", "type": "number", "label": "n", "hidden_when": 'c1 = "\'"'},
        ],
        "rules": [
            {"when": 'data = "a""b"', "show": ["errors"], "require": ["values"]},
            {"when": '"__import__" = data', "hide": ["lambda"]},
        ],
    }  # fmt: skip


FORMS: list[dict[str, Any]] = [
    *_template_forms("crm"),
    *_template_forms("order_sop"),
    example("customer.json"),
    customer_form(),
    order_form(),
    followup_form(),
    _all_types_form(),
    _rules_form(),
    _hostile_form(),
]

# Values to throw at any field: right, nearly right and wrong for some type or other.
NOISE: list[Any] = [
    None, "", "  ", "A", "c", "丙", "B", " A ", "Z", "重点", "官网", "web", "a", "ABC", "ABCDEFG",
    0, 1, -1, 7, 2**63, 1.5, 1e16, float("nan"), True, False, "1,234.50", "¥200,000", "12%",
    "3万", "abc", "2024-01-05", "2024/1/5", "2024-01-05T04:00:00Z", "2024-01-05 12:00", "1023-13-40",
    "a@b.cn", "Zhang@Example.COM", "bad@", "13812345678", "+86 138-1234-5678", "(0755)1234567",
    "0755-٣234567", "+44 20 7946 0958", "400-123-4567", "https://x.cn", "www.a.com/x", "是", "否",
    "x\x00y", ["A"], ["A", "B", "A"], ["Z"], [], {}, [1, 2], {"id": 3}, "<p>hi<script>x</script></p>",
    "广东省深圳市南山区科技园1号", {"city": "深圳市"}, "第一行\r\n第二行", "x" * 120, "长" * 300,
    [{"id": "A" * 64, "name": "a.pdf", "size": 1, "mime": "application/pdf"}], "4", "0", "-3",
]  # fmt: skip


# Values that coercion lets through and the JSON Schema refuses (a landline whose first local
# digit is not an ASCII one): the schema pass must still catch them.
EDGES: list[Any] = ["0755-٣234567", "(010)٣2345678", "0755 ٣234567-12"]


def _columns(f: Any) -> list[Any]:
    return list(getattr(f, "fields", []) or []) if f.type == "subform" else []


def _value(rng: random.Random, f: Any, noise: float, depth: int = 0) -> Any:
    """A value for field ``f``: its sample, or noise with probability ``noise`` (negative: a
    phone number from EDGES half the time); sub-form rows built alike."""
    t = type_of(f)
    if noise < 0 and f.type == "phone" and rng.random() < 0.5:
        return rng.choice(EDGES)
    if f.type == "subform" and depth == 0 and rng.random() < 0.8:
        rows = []
        for _ in range(rng.randint(0, 3)):
            row = {
                c.key: _value(rng, c, noise, 1)
                for c in _columns(f)
                if c.required or rng.random() < 0.8
            }
            if rng.random() < noise / 4:  # never when negative
                row["nope"] = 1
            rows.append(row)
        return rows
    if rng.random() >= abs(noise):
        return "ABC" if getattr(f, "pattern", None) == "^[A-Z]+$" else copy.deepcopy(t.sample(f))
    return copy.deepcopy(rng.choice(NOISE))


def _raw(rng: random.Random, cf: CompiledForm) -> Any:
    if rng.random() < 0.01:
        return rng.choice([None, [], "x"])
    noise = rng.choice([0.0, 0.0, 0.05, 0.1, 0.3, -0.01])  # negative: clean but for EDGES
    raw: dict[Any, Any] = {}
    for f in cf.fields.values():
        if not cf.types[f.key].accepts_input or f.read_only:
            if rng.random() < noise / 2:
                raw[f.key] = _value(rng, f, noise)
        elif (f.required and rng.random() > noise) or rng.random() < 0.6:
            raw[f.key] = _value(rng, f, noise)
    if noise > 0:
        extra = rng.random()
        if extra < 0.05:
            raw["stage"] = "new"
        elif extra < 0.1:
            raw["nope"] = 1
        elif extra < 0.12:
            raw[3] = "x"
    return raw


def _store() -> DictStore:
    return DictStore(
        {
            "other": {1: {"name": "华为", "city": "深圳"}, 2: {"name": "A", "city": "上海"}},
            "customer": {1: {"name": "华为", "phone": "13812345678"}},
            "product": {1: {"name": "螺丝", "price": 2.5}},
        }
    )


def _context(rng_state: int) -> tuple[dict[str, Any], Any]:
    rng = random.Random(rng_state)
    return {
        "actor_id": rng.choice([7, None]),
        "now": NOW + dt.timedelta(hours=rng.randrange(-48, 48)),
        "source": rng.choice([Source.JSON, Source.JSON, Source.HTML, Source.CELL]),
        "lang": rng.choice(["zh", "en"]),
        "enforce_read_only": rng.random() < 0.8,
        "coerce": CoerceContext(resolve_user=lambda s: 5 if s == "张三" else None),
    }, rng


def _outcome(prepare: Any, *args: Any, **kw: Any) -> Any:
    try:
        p = prepare(*args, **kw)
    except RecordValidationError as exc:
        return ("errors", [(e.field, e.code, e.message, e.params) for e in exc.errors])
    return ("ok", p.data, p.changes, p.unique)


def _same(a: Any, b: Any) -> bool:
    # NaN never equals itself: compare through repr, which shows every value and its type.
    return repr(a) == repr(b)


@pytest.mark.parametrize("form", FORMS, ids=lambda d: str(d["key"]))
def test_the_pipeline_gives_what_it_gave_before(form: dict[str, Any]) -> None:
    cf = compile_form(11, publish(load_form(copy.deepcopy(form)), 1))
    rng = random.Random(form["key"])
    stored: list[dict[str, Any]] = []
    outcomes = {"ok": 0, "errors": 0, "schema_violation": 0}
    for i in range(450):
        if i % 10 == 0:  # ten records a context, as a batch shares one
            params, ctx_rng = _context(rng.randrange(10**9))
            new_ctx = pipeline.WriteContext(**params)
            old_ctx = pipeline_before.WriteContext(**params)
            stage = ctx_rng.choice([cf.initial_stage, None, "won"])
            new_store, old_store = _store(), _store()
        raw = _raw(rng, cf)
        if stored and i % 3 == 0:
            current = rng.choice(stored)
            editable = rng.choice([None, None, set(list(cf.fields)[:3])])
            kw: dict[str, Any] = {"record_id": 5, "stage": stage, "editable": editable}
            new = _outcome(pipeline.prepare_update, cf, current, raw, new_ctx, new_store, **kw)
            old = _outcome(
                pipeline_before.prepare_update, cf, current, raw, old_ctx, old_store, **kw
            )
        else:
            new = _outcome(pipeline.prepare_create, cf, raw, new_ctx, new_store, stage=stage)
            old = _outcome(pipeline_before.prepare_create, cf, raw, old_ctx, old_store, stage=stage)
        assert _same(new, old), (form["key"], i, raw)
        outcomes[new[0]] += 1
        if new[0] == "errors" and any(e[1] == "schema_violation" for e in new[1]):
            outcomes["schema_violation"] += 1
        if new[0] == "ok" and len(stored) < 40:
            stored.append(new[1])
    # Both kinds were exercised, not only one.
    assert outcomes["ok"] > 20 and outcomes["errors"] > 20, outcomes
    if "phone" in json.dumps(form):
        assert outcomes["schema_violation"] > 0, outcomes


def test_generated_steps_hold_no_text_of_the_definition() -> None:
    """Every key, label, option, default and expression of a hostile definition reaches the
    generated steps as a constant of their namespace, never as code: no string constant of
    their code comes from the definition, and they give the old pipeline's results."""
    definition = _hostile_form()
    cf = compile_form(12, publish(load_form(copy.deepcopy(definition)), 1))
    steps = pipeline._steps(cf)
    texts = {t for t in _strings(definition) if t not in ("text", "select", "formula", "number")}
    for fn in steps:
        ours = {c for c in fn.__code__.co_consts if isinstance(c, str)}
        assert not ours & texts, ours & texts
    raw = {"data": 'a"b', "c1": "a'b", "v1": [{"cf": "x", "ctx": 2}], "values": 3, "class": "k"}
    ctx = dict(actor_id=7, now=NOW)
    new = _outcome(pipeline.prepare_create, cf, raw, pipeline.WriteContext(**ctx), _store())
    old = _outcome(
        pipeline_before.prepare_create, cf, raw, pipeline_before.WriteContext(**ctx), _store()
    )
    assert new == old and new[0] == "ok", new
    assert (
        new[1]["import"] == 5
        and new[1]["return"] == 4
        and new[1]["lambda"] == '__import__("os")a"b'
    )


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values()))  # (keys: property names)
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value))
    return set()
