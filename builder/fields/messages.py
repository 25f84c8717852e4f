"""Messages for field coercion and field-config problems (codes are stable)."""

from builder.i18n import register

MESSAGES = {
    # text, textarea, rich_text
    "not_text": {"zh": "应为文本", "en": "must be text"},
    "too_long": {"zh": "不能超过 {max} 个字符", "en": "must be at most {max} characters"},
    "too_short": {"zh": "至少需要 {min} 个字符", "en": "must be at least {min} characters"},
    "pattern_mismatch": {"zh": "格式不正确", "en": "does not match the required format"},
    "invalid_pattern": {
        "zh": "正则表达式无效：{error}",
        "en": "invalid regular expression: {error}",
    },
    # number, money, rating
    "invalid_number": {"zh": "应为数字", "en": "must be a number"},
    "number_out_of_range": {"zh": "数字超出可存储的范围", "en": "the number is too large to store"},
    "too_small": {"zh": "不能小于 {min}", "en": "must be at least {min}"},
    "too_large": {"zh": "不能大于 {max}", "en": "must be at most {max}"},
    "invalid_rating": {
        "zh": "评分应为 0 到 {max} 之间的整数",
        "en": "must be a whole number from 0 to {max}",
    },
    # date, datetime
    "invalid_date": {
        "zh": "日期无效（例如 2024-01-05）",
        "en": "not a valid date (e.g. 2024-01-05)",
    },
    "invalid_datetime": {
        "zh": "日期时间无效（例如 2024-01-05 12:00）",
        "en": "not a valid date and time (e.g. 2024-01-05 12:00)",
    },
    "date_too_early": {"zh": "不能早于 {min}", "en": "must not be before {min}"},
    "date_too_late": {"zh": "不能晚于 {max}", "en": "must not be after {max}"},
    # select, multi_select
    "invalid_option": {"zh": "“{value}”不是可选项", "en": "'{value}' is not one of the options"},
    "not_list": {"zh": "应为列表", "en": "must be a list"},
    "too_many_selected": {"zh": "最多选择 {max} 项", "en": "choose at most {max}"},
    "too_few_selected": {"zh": "至少选择 {min} 项", "en": "choose at least {min}"},
    # checkbox, email, phone, url
    "invalid_boolean": {"zh": "应为“是”或“否”", "en": "must be yes or no"},
    "invalid_email": {"zh": "邮箱地址格式不正确", "en": "not a valid e-mail address"},
    "invalid_phone": {"zh": "电话号码格式不正确", "en": "not a valid phone number"},
    "phone_kind_not_allowed": {
        "zh": "不接受这类电话号码",
        "en": "this kind of phone number is not accepted",
    },
    "invalid_url": {
        "zh": "网址无效（只接受 http/https）",
        "en": "not a valid web address (http or https only)",
    },
    # user, users, department, relation
    "unknown_user": {"zh": "找不到成员“{value}”", "en": "no user '{value}'"},
    "unknown_department": {"zh": "找不到部门“{value}”", "en": "no department '{value}'"},
    "invalid_record_id": {
        "zh": "“{value}”不是有效的记录编号",
        "en": "'{value}' is not a record id",
    },
    # attachment, image
    "not_importable": {
        "zh": "此字段不能从表格导入",
        "en": "this field cannot be imported from a spreadsheet",
    },
    "invalid_file": {"zh": "文件信息无效", "en": "invalid file"},
    "not_an_image": {"zh": "“{name}”不是图片", "en": "'{name}' is not an image"},
    "file_too_large": {"zh": "“{name}”超过 {max} MB", "en": "'{name}' is larger than {max} MB"},
    "file_type_not_allowed": {
        "zh": "不接受“{name}”这种文件类型",
        "en": "the file type of '{name}' is not accepted",
    },
    "too_many_files": {"zh": "最多上传 {max} 个文件", "en": "at most {max} files"},
    # subform
    "invalid_rows": {"zh": "子表单数据应为行的列表", "en": "sub-form data must be a list of rows"},
    "invalid_row": {"zh": "子表单的行应为对象", "en": "a sub-form row must be an object"},
    "unknown_column": {
        "zh": "子表单没有“{column}”列",
        "en": "the sub-form has no column '{column}'",
    },
    "column_required": {"zh": "“{column}”必填", "en": "'{column}' is required"},
    "too_few_rows": {"zh": "至少需要 {min} 行", "en": "needs at least {min} rows"},
    "too_many_rows": {"zh": "最多 {max} 行", "en": "at most {max} rows"},
    # lookup, formula, serial, address
    "invalid_value": {"zh": "值无效", "en": "invalid value"},
    "invalid_serial": {"zh": "流水号无效", "en": "invalid serial number"},
    "invalid_address": {"zh": "地址格式不正确", "en": "not a valid address"},
    "address_detail_not_allowed": {
        "zh": "此地址字段不填写详细地址",
        "en": "this address field takes no street address",
    },
    # field-config problems
    "invalid_default": {"zh": "默认值无效：{error}", "en": "invalid default: {error}"},
    "min_greater_than_max": {
        "zh": "最小值大于最大值",
        "en": "the minimum is greater than the maximum",
    },
    "options_empty": {"zh": "没有任何选项", "en": "there are no options"},
    "options_duplicate": {"zh": "选项“{value}”重复", "en": "option '{value}' appears twice"},
    "option_blank": {"zh": "选项不能为空", "en": "an option is blank"},
    "invalid_accept": {
        "zh": "“{value}”不是文件扩展名或 MIME 类型",
        "en": "'{value}' is neither a file extension nor a MIME type",
    },
    "max_count_single": {"zh": "单选关联不能设置最多数量", "en": "max_count needs multiple"},
    "subform_empty": {"zh": "子表单没有任何列", "en": "the sub-form has no columns"},
    "nested_subform": {
        "zh": "子表单中不能再放子表单",
        "en": "a sub-form cannot contain a sub-form",
    },
    "column_type_not_allowed": {
        "zh": "子表单中不能使用“{type}”类型的字段",
        "en": "a {type} cannot be a sub-form column",
    },
    "column_property_not_supported": {
        "zh": "子表单的列暂不支持“{name}”",
        "en": "a sub-form column cannot have '{name}' yet",
    },
    "formula_empty": {"zh": "公式为空", "en": "the formula is empty"},
    "precision_not_number": {
        "zh": "只有数字结果可以设置小数位数",
        "en": "precision only applies to a number result",
    },
    "serial_seq_width": {
        "zh": "{{SEQ:n}} 的位数 n 应在 1 到 12 之间",
        "en": "{{SEQ:n}} needs n from 1 to 12",
    },
    "serial_unknown_token": {
        "zh": "流水号规则中有未知的占位符 {{{token}}}",
        "en": "unknown token {{{token}}} in the pattern",
    },
    "serial_unbalanced_brace": {
        "zh": "流水号规则中的花括号不成对",
        "en": "a brace in the pattern is not part of a token",
    },
    "serial_seq_count": {
        "zh": "流水号规则需要恰好一个 {{SEQ:n}}",
        "en": "the pattern needs exactly one {{SEQ:n}}",
    },
    "serial_not_unique": {
        "zh": "计数会按周期重置，但规则中没有能区分周期的日期部分，编号会重复",
        "en": "the counter restarts but the pattern does not show the date part "
        "that tells the periods apart, so numbers would repeat",
    },
}

register(MESSAGES)
