"""Plain definitions for builder tests: a small order app that exercises most of the format."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# The contract examples (../shared/examples), copied into the repo so a clone alone can test;
# tests/builder/test_examples.py checks the copy still matches shared/ when it is beside us.
CONTRACT = Path(__file__).resolve().parents[1] / "contract"


def example(name: str) -> dict[str, Any]:
    """One of the contract's example definitions, as data."""
    data: dict[str, Any] = json.loads((CONTRACT / name).read_text(encoding="utf-8"))
    return data


def followup_form() -> dict[str, Any]:
    return {
        "key": "followup",
        "name": "跟进记录",
        "title_field": "content",
        "fields": [
            {
                "key": "customer",
                "type": "relation",
                "label": "客户",
                "target": "customer",
                "display_field": "name",
            },
            {
                "key": "method",
                "type": "select",
                "label": "方式",
                "options": ["电话", "拜访", "微信"],
            },
            {"key": "content", "type": "textarea", "label": "内容"},
            {"key": "next_followup_at", "type": "datetime", "label": "下次跟进"},
        ],
    }


def order_form() -> dict[str, Any]:
    return {
        "key": "order",
        "name": "订单",
        "title_field": "order_no",
        "fields": [
            {
                "key": "order_no",
                "type": "text",
                "label": "订单号",
                "required": True,
                "unique": True,
            },
            {
                "key": "customer",
                "type": "relation",
                "label": "客户",
                "target": "customer",
                "display_field": "name",
            },
            {
                "key": "customer_grade",
                "type": "lookup",
                "label": "客户等级",
                "relation": "customer",
                "field": "grade",
            },
            {"key": "qty", "type": "number", "label": "数量", "min": 0},
            {"key": "amount", "type": "money", "label": "金额", "min": 0, "filterable": True},
            {"key": "status", "type": "select", "label": "状态", "options": ["新", "进行中"]},
            {"key": "sales", "type": "user", "label": "销售"},
            {"key": "signed_on", "type": "date", "label": "签约日期"},
            {
                "key": "items",
                "type": "subform",
                "label": "明细",
                "fields": [
                    {"key": "sku", "type": "text", "label": "SKU", "required": True},
                    {"key": "price", "type": "number", "label": "单价"},
                ],
            },
            {"key": "total", "type": "formula", "label": "合计", "expr": "SUM(items.price) * qty"},
            {"key": "contract_no", "type": "text", "label": "合同号"},
            {
                "key": "vip_note",
                "type": "textarea",
                "label": "备注",
                "visible_when": "amount > 100000",
            },
        ],
        "layout": {"columns": 2, "rows": [["order_no", "customer"], ["qty", "amount"]]},
        "rules": [{"when": 'status = "进行中"', "require": ["signed_on"]}],
        "workflow": {
            "stages": [
                {"key": "need", "name": "需求确认", "initial": True, "assignee": {"role": "sales"}},
                {
                    "key": "contract",
                    "name": "合同签订",
                    "sla_hours": 48,
                    "due_field": "signed_on",
                    "assignee": {"field": "sales"},
                    "escalation": [{"after_hours": 4, "notify": [{"role": "sales_manager"}]}],
                },
                {
                    "key": "review",
                    "name": "审批",
                    "approval": {
                        "policy": "n_of_m",
                        "n": 2,
                        "approvers": {"role": "sales_manager"},
                        "reject_to": "contract",
                    },
                },
                {"key": "done", "name": "完成", "kind": "done"},
                {"key": "cancelled", "name": "取消", "kind": "cancelled"},
            ],
            "transitions": [
                {
                    "key": "confirm",
                    "label": "确认需求",
                    "from": ["need"],
                    "to": "contract",
                    "roles": ["sales"],
                },
                {
                    "key": "sign",
                    "label": "签订合同",
                    "from": ["contract"],
                    "to": "review",
                    "requires": ["contract_no"],
                    "when": "amount > 0",
                    "allow": ["assignee", {"field": "sales"}],
                },
                {"key": "finish", "label": "完成", "from": ["review"], "to": "done"},
                {
                    "key": "cancel",
                    "label": "取消",
                    "from": ["need", "contract", "review"],
                    "to": "cancelled",
                    "requires_comment": True,
                },
            ],
        },
    }


def customer_form() -> dict[str, Any]:
    return example("customer.json")


def app_definition() -> dict[str, Any]:
    return {
        "format": "stageform.app/1",
        "key": "crm",
        "name": "客户管理",
        "roles": [
            {"key": "sales", "name": "销售人员"},
            {"key": "sales_manager", "name": "销售主管"},
        ],
        "forms": [customer_form(), followup_form(), order_form()],
        "automations": [example("automation.json")],
        "dashboards": [example("dashboard.json")],
    }


def forms_by_key() -> dict[str, Any]:
    from builder.form import load_form

    return {f["key"]: load_form(f) for f in (customer_form(), followup_form(), order_form())}


def clone(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
