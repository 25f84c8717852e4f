"""What the API routes share: how a JSON body is read, the engine services of this app
instance, the id path parameters and the version a write says it read."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Path, Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime

from runtime.services import Services
from runtime.timestamps import fits_utc

# A \uD800–\uDFFF escape: the only way a lone surrogate gets into a string decoded from UTF-8.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _fits_utc(value: dt.datetime) -> dt.datetime:
    if not fits_utc(value):
        raise ValueError("the instant is out of range in UTC")
    return value


# A client's instant: with its offset, and one UTC can express (else 422, not a 500).
Instant = Annotated[AwareDatetime, AfterValidator(_fits_utc)]


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def loads_json(body: bytes) -> Any:
    """``body`` as strict JSON (RFC 8259): UTF-8, no ``NaN``/``Infinity``, no unpaired
    surrogate escape (text no database can store), nesting Python can follow.

    Raises:
        json.JSONDecodeError: for every one of those, so FastAPI answers each as malformed
            JSON (422 ``json_invalid``) like a syntax error.
    """
    try:
        text = body.decode("utf-8-sig")  # a leading byte order mark may be ignored (§8.1)
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the body is not UTF-8", "", exc.start) from None
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:  # JSONDecodeError, or the constant refused above
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(exc), text, 0) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    if _SURROGATE_ESCAPE.search(body):
        # Paired escapes decode to one character; a lone one stays a surrogate, which no
        # UTF-8 text (so no database) can hold.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", text, 0) from None
        except UnicodeEncodeError:
            raise json.JSONDecodeError("a \\u escape is an unpaired surrogate", text, 0) from None
    return value


class JSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_json(await self.body())
        return self._json


class JSONRoute(APIRoute):
    """A route whose JSON body is read by :func:`loads_json`. Every API router uses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive))

        return strict_json_handler


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (a dict of JSON values, as the engine returns them) as the JSON response,
    written by orjson. Returning a ``Response`` skips FastAPI's validation of the value against
    the route's ``response_model`` and its second encoding (the model stays on the route for
    the API docs): for hot routes whose value is already exactly the model's shape. The same
    text as FastAPI's compact, non-ASCII JSON; what orjson refuses (integers beyond 64 bits)
    goes through ``json.dumps``."""
    try:
        body = orjson.dumps(content)
    except TypeError:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        body = text.encode("utf-8")
    return Response(body, status_code=status_code, media_type="application/json")


async def get_services(request: Request) -> Services:
    # async: no I/O, so no thread-pool hop (see app.state)
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

# The largest id of each kind: apps and forms have INTEGER ids on PostgreSQL (32-bit), records
# BIGINT (64-bit, as the builder's record ids). A larger id cannot exist, and binding it fails
# in the driver (SQLite's OverflowError, PostgreSQL's integer out of range).
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

AppId = Annotated[int, Path(ge=1, le=MAX_INT32)]
FormId = Annotated[int, Path(ge=1, le=MAX_INT32)]
RecordId = Annotated[int, Path(ge=1, le=MAX_INT64)]
# A record's version is INTEGER too.
MAX_VERSION = MAX_INT32
"""Ids in paths (``/apps/{app_id}``): out of range is a 422 naming the parameter, never a
query."""


def version_from(body_version: int | None, if_match: str | None) -> int | None:
    """The version a write says it read: ``version`` in the body, else ``If-Match: "3"``
    (weak tags too). A header that is not a version (ASCII digits, within
    :data:`MAX_VERSION`) counts as missing."""
    if body_version is not None:
        return body_version
    if if_match:
        tag = if_match.strip().removeprefix("W/").strip('"')
        # str.isdigit() alone admits "²" and "٣"; int() refuses the first.
        if tag.isascii() and tag.isdigit() and len(tag) <= 10 and 1 <= int(tag) <= MAX_VERSION:
            return int(tag)
    return None


IfMatch = Annotated[str | None, Header(alias="If-Match")]
