"""Messages (zh, en) for the runtime's error codes: record-level errors, and the engine errors
a client is shown (:meth:`runtime.errors.EngineError.localized`). Codes shared with
definitions reuse the builder's catalog (``unknown_field``, ``field_not_writable``)."""

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

# What runtime.errors.NotFoundError names (its ``kind``, spaces as underscores).
register(
    {
        "kind_app": {"zh": "应用", "en": "app"},
        "kind_form": {"zh": "表单", "en": "form"},
        "kind_form_version": {"zh": "表单版本", "en": "form version"},
        "kind_record": {"zh": "记录", "en": "record"},
        "kind_user": {"zh": "用户", "en": "user"},
        "kind_department": {"zh": "部门", "en": "department"},
        "kind_role": {"zh": "角色", "en": "role"},
        "kind_permission_set": {"zh": "权限组", "en": "permission set"},
        "kind_api_token": {"zh": "API 令牌", "en": "api token"},
        "kind_link": {"zh": "公开链接", "en": "link"},
    }
)

# The engine errors of runtime/errors.py and the ConflictError codes raised with params.
register(
    {
        "not_found": {"zh": "{kind} {ident} 不存在", "en": "{kind} {ident} not found"},
        "version_required": {
            "zh": "请告知您读取的版本：请求体中的 version 或 If-Match 请求头",
            "en": "say which version you read: 'version' in the body or an If-Match header",
        },
        "stale_version": {
            "zh": "记录在版本 {expected} 之后已被修改，请重新加载后再试",
            "en": "the record changed since version {expected}; reload and try again",
        },
        "version_ahead": {
            "zh": "记录没有版本 {expected}，当前是版本 {current}；请重新加载后再试",
            "en": "the record has no version {expected}, it is at version {current}; reload and "
            "try again",
        },
        "permission_denied": {"zh": "无权执行：{action}", "en": "not allowed: {action}"},
        "database_unavailable": {
            "zh": "无法连接数据库；未写入任何内容，请稍后重试",
            "en": "the database cannot be reached; nothing was written, please retry",
        },
        "database_busy": {
            "zh": "数据库繁忙；未写入任何内容，请重试",
            "en": "the database is busy; nothing was written, please retry",
        },
        "form_not_published": {
            "zh": "表单还没有发布的版本，请先发布",
            "en": "the form has no published version yet; publish it first",
        },
        "cannot_change_self": {
            "zh": "不能停用自己或取消自己的管理员身份",
            "en": "you cannot deactivate or demote yourself",
        },
        "email_taken": {
            "zh": "邮箱为 {email} 的用户已存在",
            "en": "a user with e-mail {email} already exists",
        },
        "department_has_children": {
            "zh": "请先移动或删除其下级部门",
            "en": "move or delete its sub-departments first",
        },
        "role_key_taken": {"zh": "键为“{key}”的角色已存在", "en": "a role with key '{key}' exists"},
        "app_key_taken": {"zh": "键为“{key}”的应用已存在", "en": "an app with key '{key}' exists"},
        "form_key_taken": {
            "zh": "该应用已有键为“{key}”的表单",
            "en": "the app has a form with key '{key}'",
        },
        "form_key_changed": {"zh": "表单的键不能修改", "en": "a form's key cannot change"},
        "publish_conflict": {
            "zh": "表单刚刚已被他人发布",
            "en": "the form was published by someone else meanwhile",
        },
    }
)

# The query engine's own checks (runtime/store/query.py); the form-dependent ones (unknown
# fields, operators, values) come from the builder's query validation.
register(
    {
        "invalid_limit": {
            "zh": "应为 1 到 {max} 之间的整数",
            "en": "a whole number from 1 to {max}",
        },
        "too_many_groups": {"zh": "最多按 {max} 个字段分组", "en": "group by at most {max} fields"},
        "invalid_timezone": {
            "zh": "应为 IANA 时区名称，如 Asia/Shanghai",
            "en": "an IANA time zone name, such as Asia/Shanghai",
        },
        "too_many_sort_keys": {"zh": "最多按 {max} 个字段排序", "en": "at most {max} sort keys"},
        "not_sortable": {"zh": "字段“{key}”不能用于排序", "en": "'{key}' cannot be sorted"},
        "invalid_fields": {"zh": "应为字段键的列表", "en": "a list of field keys"},
        "search_too_long": {
            "zh": "搜索内容最多 {max} 个字符",
            "en": "text of at most {max} characters",
        },
        "search_too_many_words": {"zh": "搜索内容最多 {max} 个词", "en": "at most {max} words"},
        "search_nul": {"zh": "搜索内容不能含有 NUL 字符", "en": "no NUL characters"},
        "invalid_shape": {"zh": "格式无效：{detail}", "en": "{detail}"},
    }
)

# Permission sets (runtime/permissions.py) and work lists (runtime/services/tasks.py).
register(
    {
        "unknown_preset": {"zh": "可选的预设：{presets}", "en": "presets: {presets}"},
        "invalid_scope": {
            "zh": "只有 filter 类型的范围带筛选条件，且必须带",
            "en": "a filter goes with kind 'filter', and only there",
        },
        "invalid_box": {"zh": "box 应为以下之一：{boxes}", "en": "box is one of {boxes}"},
    }
)

# Public links' settings (runtime/services/links.py).
register(
    {
        "expires_in_past": {"zh": "过期时间已经过去", "en": "the expiry is in the past"},
        "exact_match_required": {
            "zh": "至少要有一个字段精确匹配（例如订单号）",
            "en": "at least one field must be matched exactly (e.g. the order number)",
        },
        "duplicate_field": {"zh": "字段“{key}”被匹配了两次", "en": "{key} is matched twice"},
        "field_not_matchable": {
            "zh": "字段“{key}”不是文本类字段（文本、流水号、电话、邮箱……）",
            "en": "{key} is not a text-like field (text, serial number, phone, e-mail …)",
        },
    }
)

# Organisation, comments and stored text (runtime/services/org.py, records.py, definitions.py).
register(
    {
        "unknown_role": {"zh": "找不到角色“{value}”", "en": "no role '{value}'"},
        "department_cycle": {
            "zh": "部门不能放在自己或自己的下级部门之下",
            "en": "a department cannot be placed under itself or its sub-departments",
        },
        "nul_not_stored": {
            "zh": "不能保存 NUL 字符",
            "en": "a NUL character cannot be stored",
        },
        "comment_empty": {"zh": "评论内容不能为空", "en": "comment is empty"},
    }
)
