"""Messages for definition problems (codes are stable; see :mod:`builder.validate`)."""

from builder.i18n import register

MESSAGES = {
    # shape (from pydantic)
    "missing_property": {"zh": "缺少必填属性", "en": "this property is required"},
    "unknown_property": {"zh": "未知的属性“{name}”", "en": "unknown property '{name}'"},
    "invalid_key": {
        "zh": "标识“{value}”无效：须以小写字母开头，只含小写字母、数字和下划线，最长 63 个字符",
        "en": "key '{value}' is invalid: start with a lower-case letter and use only a-z, 0-9 "
        "and _ (at most 63 characters)",
    },
    "invalid_property": {"zh": "取值无效：{detail}", "en": "invalid value: {detail}"},
    "invalid_choice": {
        "zh": "取值无效，可选：{expected}",
        "en": "invalid value; expected {expected}",
    },
    "wrong_type": {"zh": "类型错误：{detail}", "en": "wrong type: {detail}"},
    "missing_type": {"zh": "缺少字段类型（type）", "en": "the field has no 'type'"},
    "not_an_object": {"zh": "定义必须是 JSON 对象", "en": "a definition must be a JSON object"},
    # fields
    "duplicate_key": {"zh": "标识“{key}”重复", "en": "key '{key}' is used more than once"},
    "reserved_key": {"zh": "“{key}”是系统保留标识", "en": "'{key}' is reserved by the system"},
    "title_field_missing": {
        "zh": "标题字段“{key}”不存在或不能作为标题",
        "en": "title field '{key}' does not exist or cannot be a title",
    },
    "unique_not_supported": {
        "zh": "“{label}”的类型不支持唯一校验",
        "en": "'{label}' cannot be unique (its type)",
    },
    "required_not_supported": {
        "zh": "“{label}”不能设为必填（它不由用户填写）",
        "en": "'{label}' cannot be required (it is not filled in by people)",
    },
    "default_not_supported": {
        "zh": "“{label}”不能有默认值",
        "en": "'{label}' cannot have a default value",
    },
    "not_indexable": {
        "zh": "“{label}”的类型不支持筛选或排序索引",
        "en": "'{label}' cannot be indexed for filtering or sorting (its type)",
    },
    "unknown_field": {"zh": "字段“{key}”不存在", "en": "field '{key}' does not exist"},
    "unknown_form": {"zh": "表单“{key}”不存在", "en": "form '{key}' does not exist"},
    "unknown_relation_target": {
        "zh": "关联的表单“{key}”不存在",
        "en": "the related form '{key}' does not exist",
    },
    "lookup_not_relation": {
        "zh": "“{key}”不是本表单的关联字段",
        "en": "'{key}' is not a relation field of this form",
    },
    "formula_cycle": {
        "zh": "公式之间循环引用：{cycle}",
        "en": "formulas refer to each other in a cycle: {cycle}",
    },
    "layout_duplicate": {
        "zh": "字段“{key}”在布局中出现多次",
        "en": "field '{key}' appears more than once in the layout",
    },
    "row_too_wide": {
        "zh": "一行最多放 {columns} 个字段",
        "en": "a row holds at most {columns} fields",
    },
    "rule_empty": {
        "zh": "规则没有要显示、隐藏或必填的字段",
        "en": "the rule shows, hides and requires nothing",
    },
    "key_reused": {
        "zh": "标识“{key}”曾属于一个已删除的其他类型字段，不能用于新类型",
        "en": "key '{key}' belonged to a removed field of another type and cannot be reused",
    },
    # workflow
    "duplicate_stage": {"zh": "阶段“{key}”重复", "en": "stage '{key}' is defined more than once"},
    "duplicate_transition": {
        "zh": "流转“{key}”重复",
        "en": "transition '{key}' is defined more than once",
    },
    "no_initial_stage": {
        "zh": "流程没有初始阶段（请将一个阶段设为 initial）",
        "en": "the workflow has no initial stage (mark one stage as initial)",
    },
    "multiple_initial_stages": {
        "zh": "流程只能有一个初始阶段，现有：{keys}",
        "en": "the workflow has more than one initial stage: {keys}",
    },
    "unknown_stage": {"zh": "阶段“{key}”不存在", "en": "stage '{key}' does not exist"},
    "unknown_transition": {"zh": "流转“{key}”不存在", "en": "transition '{key}' does not exist"},
    "unreachable_stage": {
        "zh": "阶段“{name}”无法从初始阶段到达",
        "en": "stage '{name}' cannot be reached from the start",
    },
    "dead_end_stage": {
        "zh": "阶段“{name}”不是结束阶段，但没有任何流转可以离开",
        "en": "stage '{name}' is not final but has no way out",
    },
    "roles_empty": {
        "zh": "角色列表为空：没有人能执行此流转",
        "en": "the role list is empty: nobody could fire this transition",
    },
    "due_field_not_date": {
        "zh": "截止字段“{key}”必须是日期或日期时间字段",
        "en": "due field '{key}' must be a date or date-time field",
    },
    "not_user_field": {
        "zh": "字段“{key}”必须是成员字段",
        "en": "field '{key}' must be a user field",
    },
    "approval_on_final_stage": {
        "zh": "结束阶段不能设置审批",
        "en": "a final stage cannot have an approval",
    },
    "approval_n_too_large": {
        "zh": "需要 {n} 人同意，但只有 {m} 位审批人",
        "en": "{n} approvals are needed but there are only {m} approvers",
    },
    "approval_without_exit": {
        "zh": "审批阶段需要 approve_to，或恰好一条通往非取消阶段的流转",
        "en": "an approval stage needs approve_to, or exactly one transition out that does not "
        "cancel",
    },
    "escalation_without_deadline": {
        "zh": "阶段“{name}”设置了超时升级，但没有 sla_hours 或 due_field",
        "en": "stage '{name}' escalates but has no sla_hours or due_field",
    },
    # queries, automations, dashboards
    "operator_not_supported": {
        "zh": "“{label}”不支持筛选条件“{op}”",
        "en": "'{label}' cannot be filtered with '{op}'",
    },
    "invalid_filter_value": {
        "zh": "筛选条件“{op}”的值无效：{detail}",
        "en": "invalid value for '{op}': {detail}",
    },
    "filter_too_deep": {
        "zh": "筛选条件嵌套过深（最多 {max} 层）",
        "en": "the filter is nested too deep (max {max})",
    },
    "not_numeric": {
        "zh": "“{label}”不是数字，不能计算 {op}",
        "en": "'{label}' is not a number; cannot {op} it",
    },
    "not_groupable": {
        "zh": "“{label}”不能用于分组",
        "en": "'{label}' cannot be grouped by",
    },
    "bucket_needs_date": {
        "zh": "按时间分组只适用于日期字段",
        "en": "date buckets apply only to date fields",
    },
    "field_not_writable": {
        "zh": "字段“{key}”不能被写入",
        "en": "field '{key}' cannot be written",
    },
    "duplicate_form": {"zh": "表单“{key}”重复", "en": "form '{key}' is defined more than once"},
}

register(MESSAGES)
