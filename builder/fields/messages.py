"""Messages for field coercion and field-config problems (codes are stable)."""

from builder.i18n import register

MESSAGES = {
    "not_text": {"zh": "应为文本", "en": "must be text"},
    "too_long": {"zh": "不能超过 {max} 个字符", "en": "must be at most {max} characters"},
    "too_short": {"zh": "至少需要 {min} 个字符", "en": "must be at least {min} characters"},
    "pattern_mismatch": {"zh": "格式不正确", "en": "does not match the required format"},
    "invalid_pattern": {"zh": "正则表达式无效：{error}", "en": "invalid regular expression: {error}"},
}

register(MESSAGES)
