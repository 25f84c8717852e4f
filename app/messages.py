"""Messages (zh, en) for the errors the app answers itself, and the language of a request.

Every error body's ``message`` is in the request's language: the first of ``zh``/``en`` in its
``Accept-Language``, else ``STAGEFORM_DEFAULT_LANGUAGE``. The ``code`` beside it never changes
with the language; clients switch on that. Record and query errors are translated by the
runtime (runtime/messages.py), the app's own here: :class:`app.errors.ApiError` takes a
catalog key and its parameters, and its English text (for logs) comes from the same entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.i18n import DEFAULT_LANGUAGE, register


def language_from(accept_language: str, default: str) -> str:
    """``zh`` or ``en``: the first of those in an ``Accept-Language`` value, else ``default``."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return default


def scope_language(scope: Mapping[str, Any]) -> str:
    """The language of an ASGI request: its ``Accept-Language``, else the app's default."""
    accept = ""
    for name, value in scope.get("headers") or ():
        if name == b"accept-language":
            accept = value.decode("latin-1")
            break
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    return language_from(accept, getattr(settings, "default_language", DEFAULT_LANGUAGE))


# The app's message keys (an ApiError's ``key``), beside its error codes.
MESSAGES: dict[str, dict[str, str]] = {
    # 401
    "auth_required": {"zh": "请登录或提供 API 令牌", "en": "log in or send an API token"},
    "bearer_malformed": {
        "zh": "Authorization 请求头应为“Bearer <API 令牌>”",
        "en": "the Authorization header must be 'Bearer <API token>'",
    },
    "token_invalid": {
        "zh": "API 令牌无效或已被吊销",
        "en": "the API token is invalid or revoked",
    },
    "session_expired": {
        "zh": "会话已过期或已退出，请重新登录",
        "en": "the session has expired or was logged out; log in again",
    },
    "user_gone": {"zh": "该用户已不存在", "en": "the user no longer exists"},
    "invalid_credentials": {"zh": "邮箱或密码错误", "en": "wrong e-mail or password"},
    "link_password_required": {
        "zh": "此链接需要密码，请在 {header} 请求头中提供",
        "en": "this link needs its password in the {header} header",
    },
    # 403
    "cookie_origin_refused": {
        "zh": "使用会话 Cookie 的修改必须来自本服务器自己的页面",
        "en": "a cookie-authenticated change must come from this server's own pages",
    },
    "login_origin_refused": {
        "zh": "请从本服务器自己的页面登录",
        "en": "log in from this server's own pages",
    },
    "csrf_failed": {
        "zh": "请在 {header} 请求头中发送本会话的 CSRF 令牌（见登录或 GET /api/v1/auth/me 的响应）",
        "en": "send the session's CSRF token in the {header} header "
        "(from login or GET /api/v1/auth/me)",
    },
    "password_change_required": {
        "zh": "请先修改初始密码：POST /api/v1/me/password",
        "en": "change your initial password first: POST /api/v1/me/password",
    },
    # 404
    "link_not_found": {
        "zh": "链接不存在，或已被撤销、已过期",
        "en": "no such link, or it was revoked or has expired",
    },
    "public_no_match": {
        "zh": "没有与您输入的内容相符的记录",
        "en": "no record matches what you entered",
    },
    # 422
    "weak_password": {
        "zh": "密码至少需要 {min} 个字符",
        "en": "the password must have at least {min} characters",
    },
    "wrong_password": {"zh": "当前密码不正确", "en": "the current password is wrong"},
    "same_password": {
        "zh": "请设置一个与当前密码不同的密码",
        "en": "choose a password you did not use now",
    },
    "not_nullable": {"zh": "{name} 不能为空", "en": "{name} cannot be null"},
    "preset_and_custom": {
        "zh": "请提供预设，或提供 actions 和 scope，不能同时提供",
        "en": "give a preset or actions and scope, not both",
    },
    "preset_or_actions": {
        "zh": "请提供预设，或提供 actions 和 scope",
        "en": "give a preset, or actions and scope",
    },
    "json_invalid": {
        "zh": "JSON 格式错误，位置 {position}：{reason}",
        "en": "invalid JSON at position {position}: {reason}",
    },
    # 429
    "too_many_attempts": {
        "zh": "登录失败次数过多，请 {wait} 秒后再试",
        "en": "too many failed logins; try again in {wait} seconds",
    },
    "link_too_many_requests": {
        "zh": "对此链接的请求过多，请 {wait} 秒后再试",
        "en": "too many requests to this link; try again in {wait} seconds",
    },
    # Any status, from the middleware and the framework
    "invalid_content_length": {"zh": "Content-Length 无效", "en": "invalid Content-Length"},
    "body_too_large": {
        "zh": "请求体超过 {limit} 字节",
        "en": "request body larger than {limit} bytes",
    },
    "internal_error": {
        "zh": "服务器内部错误；管理员可在日志中查看详情",
        "en": "internal server error; the administrator can find the details in the log",
    },
    "http_400": {"zh": "请求无效", "en": "bad request"},
    "http_401": {"zh": "未登录", "en": "not authenticated"},
    "http_403": {"zh": "禁止访问", "en": "forbidden"},
    "http_404": {"zh": "未找到", "en": "not found"},
    "http_405": {"zh": "不允许的请求方法", "en": "method not allowed"},
    "http_406": {"zh": "无法提供可接受的响应格式", "en": "not acceptable"},
    "http_415": {"zh": "不支持的请求体类型", "en": "unsupported media type"},
}

register(MESSAGES)
