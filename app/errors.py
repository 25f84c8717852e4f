"""Every error response, in one place and one shape.

Body, always::

    {"detail": [{"field": "budget", "code": "too_small", "message": "…"}, …], …}

``field`` is a key or path (``contacts[2].name``), ``""`` when the error is not about one field.
A few errors add keys beside ``detail`` (409 on a stale version adds ``current``, the record as
it is now).

:data:`ENGINE_STATUS` maps the engine's error classes (``runtime/errors.py``) to statuses; the
most specific class in an error's MRO wins. An :class:`~runtime.errors.EngineError` that is not
in the table is a bug in the mapping and answers 500. Anything unexpected answers 500 with a
generic message and is logged with its traceback; nothing a client sends may reach that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.messages import scope_language
from builder.i18n import known_codes, translate
from builder.pydantic_messages import pydantic_message
from runtime.errors import (
    ConflictError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    DatabaseVersionError,
    DefinitionRejectedError,
    EngineError,
    InvalidQueryError,
    NotFoundError,
    PermissionDeniedError,
    RecordValidationError,
    StaleVersionError,
    VersionRequiredError,
)

log = logging.getLogger("stageform.errors")

ENGINE_STATUS: dict[type[EngineError], int] = {
    RecordValidationError: 422,
    InvalidQueryError: 422,
    DefinitionRejectedError: 422,
    NotFoundError: 404,
    VersionRequiredError: 428,
    StaleVersionError: 409,
    PermissionDeniedError: 403,
    ConflictError: 409,
    DatabaseVersionError: 503,
    DatabaseBusyError: 503,
    DatabaseUnavailableError: 503,
}
# Seconds a client should wait before trying again (the ``Retry-After`` header).
RETRY_AFTER: dict[type[EngineError], str] = {
    DatabaseBusyError: "1",
    DatabaseUnavailableError: "5",
}

# Codes for errors Starlette/FastAPI raise themselves (unknown route, wrong method…).
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def internal_error_item(lang: str) -> dict[str, str]:
    """The one item of every 500: nothing of the error itself reaches the client."""
    return item("internal_error", translate("internal_error", lang))


class ErrorItem(BaseModel):
    field: str
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response (some add keys beside ``detail``)."""

    detail: list[ErrorItem]


class ApiError(Exception):
    """An error the app raises itself (authentication, CSRF, rate limit, body size).

    Its message is the catalog entry ``key`` (default: ``code``; app/messages.py) with
    ``params``, shown in the request's language (:meth:`localized`); ``message`` is its
    English text.
    """

    def __init__(
        self,
        status: int,
        code: str,
        *,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
        field: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.key = key or code
        self.params = dict(params or {})
        self.message = translate(self.key, "en", **self.params)
        super().__init__(self.message)
        self.status = status
        self.code = code
        self.field = field
        self.headers = dict(headers or {})

    def localized(self, lang: str) -> str:
        return translate(self.key, lang, **self.params)


class BodyTooLarge(StarletteHTTPException):
    """A request body over the limit (413), raised while it is read.

    An HTTPException so that FastAPI re-raises it from its body parsing (anything else there
    becomes a 400) and the error table answers it like any other."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, translate("body_too_large", "en", limit=limit))
        self.limit = limit

    def localized(self, lang: str) -> str:
        return translate("body_too_large", lang, limit=self.limit)


def error_response(
    status: int,
    items: Sequence[Mapping[str, str]],
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": [dict(item) for item in items]}
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def item(code: str, message: str, field: str = "") -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def status_for(error: EngineError) -> int | None:
    for cls in type(error).__mro__:
        if cls in ENGINE_STATUS:
            return ENGINE_STATUS[cls]
    return None


def _engine_items(error: EngineError, lang: str) -> list[dict[str, str]]:
    if isinstance(error, RecordValidationError | InvalidQueryError):
        return [e.as_dict() for e in error.errors]
    if isinstance(error, DefinitionRejectedError):
        return [
            item(str(p.get("code", error.code)), str(p.get("message", "")), str(p.get("path", "")))
            for p in error.problems
        ]
    return [item(error.code, error.localized(lang))]


def _loc_path(loc: Sequence[int | str]) -> str:
    # ("body", "records", 3, "data") → "records[3].data"; the leading source is dropped.
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else []
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


async def _engine_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, EngineError)
    lang = scope_language(request.scope)
    status = status_for(error)
    if status is None:
        log.error("unmapped engine error %s", type(error).__name__, exc_info=error)
        return error_response(500, [internal_error_item(lang)])
    extra: dict[str, Any] = {}
    if isinstance(error, StaleVersionError):
        extra["current"] = jsonable_encoder(error.current)
    retry = next((RETRY_AFTER[c] for c in type(error).__mro__ if c in RETRY_AFTER), None)
    headers = {"Retry-After": retry} if retry is not None else None
    return error_response(status, _engine_items(error, lang), extra=extra, headers=headers)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    message = error.localized(scope_language(request.scope))
    return error_response(
        error.status, [item(error.code, message, error.field)], headers=error.headers
    )


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    code = HTTP_CODES.get(status, f"http_{status}")
    lang = scope_language(request.scope)
    if isinstance(error, BodyTooLarge):
        message = error.localized(lang)
    elif not isinstance(error.detail, str) or error.detail == _phrase(status):
        # The framework's own (an unknown route, a wrong method): its text is the status's.
        key = f"http_{status}"
        message = translate(key, lang) if key in known_codes() else code.replace("_", " ")
    else:
        message = error.detail
    return error_response(status, [item(code, message)], headers=error.headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    lang = scope_language(request.scope)
    items = []
    for err in error.errors():
        kind = str(err.get("type", "invalid"))
        ctx = err.get("ctx") or {}
        if kind == "json_invalid":
            position = err["loc"][-1] if err.get("loc") else "?"
            message = translate(
                "json_invalid", lang, position=position, reason=ctx.get("error", "")
            )
            items.append(item("json_invalid", message))
            continue
        items.append(item(kind, pydantic_message(err, lang), _loc_path(err["loc"])))
    return error_response(422, items)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Anything else is answered by app.middleware.CatchAllMiddleware (a 500, logged once).


class ConflictBody(ErrorBody):
    """A 409; on a stale ``version`` it adds ``current``, the record as it is now."""

    current: dict[str, Any] | None = None


# Every error status the API answers, with what it means: the OpenAPI document is built from
# this table (:func:`error_responses`), so each status is described once, in the one shape.
ERROR_STATUSES: dict[int, tuple[type[ErrorBody], str]] = {
    400: (ErrorBody, "Malformed request: a body that is not UTF-8, an invalid Content-Length"),
    401: (ErrorBody, "Not authenticated"),
    403: (ErrorBody, "Not allowed, or the CSRF token is missing"),
    404: (ErrorBody, "No such object"),
    409: (
        ConflictBody,
        "Conflict: a key or unique value is taken, the form is not published, or the "
        "`version` sent is stale (`current` is then the record as it is now)",
    ),
    413: (ErrorBody, "Request body too large"),
    422: (ErrorBody, "Invalid request"),
    428: (ErrorBody, "The version read is required: `version` in the body or `If-Match`"),
    429: (ErrorBody, "Too many failed logins; `Retry-After` says when to try again"),
    503: (ErrorBody, "The database is busy (retry after `Retry-After`) or not migrated"),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the given error statuses, from :data:`ERROR_STATUSES`."""
    return {
        status: {"model": ERROR_STATUSES[status][0], "description": ERROR_STATUSES[status][1]}
        for status in statuses
    }


# Declared on every /api/v1 route, so the OpenAPI document describes the error shape
# (and FastAPI does not add its own 422 schema, which is not ours). Routes add the statuses
# only some of them answer (404, 409, 428, 429) with ``responses=error_responses(…)``.
COMMON_RESPONSES = error_responses(400, 401, 403, 413, 422, 503)
