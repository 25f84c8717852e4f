"""Messages for record-level error codes (zh, en). Codes shared with definitions reuse the
builder's catalog (``unknown_field``, ``field_not_writable``)."""

from builder.i18n import register

register(
    {
        "required": {"zh": "“{label}”为必填项", "en": "'{label}' is required"},
        "read_only_field": {"zh": "“{label}”是只读字段", "en": "'{label}' is read-only"},
        "stage_not_writable": {
            "zh": "阶段只能通过流转改变",
            "en": "the stage changes only through a transition",
        },
        "not_editable_in_stage": {
            "zh": "“{label}”在当前阶段不可编辑",
            "en": "'{label}' cannot be edited in this stage",
        },
        "relation_not_found": {
            "zh": "“{label}”关联的记录 {ids} 不存在",
            "en": "'{label}' refers to missing records {ids}",
        },
        "not_unique": {
            "zh": "“{label}”的值“{value}”已存在",
            "en": "'{label}' value '{value}' already exists",
        },
        "invalid_character": {
            "zh": "“{label}”含有不允许的字符（NUL）",
            "en": "'{label}' contains a forbidden character (NUL)",
        },
        "schema_violation": {
            "zh": "“{label}”的值无效：{detail}",
            "en": "'{label}' is invalid: {detail}",
        },
        "data_not_object": {"zh": "data 必须是对象", "en": "data must be an object"},
        "hidden_field_invalid": {
            "zh": "一个您无权查看的字段无效，请联系管理员",
            "en": "a field you cannot see is invalid; ask an administrator",
        },
    }
)
