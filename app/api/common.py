"""What the apps, forms and records routes share: the engine services of this app instance and
the version a write says it read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from runtime.service import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def version_from(body_version: int | None, if_match: str | None) -> int | None:
    """The version a write says it read: ``version`` in the body, else ``If-Match: "3"``
    (weak tags too). An unparseable header counts as missing."""
    if body_version is not None:
        return body_version
    if if_match:
        tag = if_match.strip().removeprefix("W/").strip('"')
        if tag.isdigit():
            return int(tag)
    return None


IfMatch = Annotated[str | None, Header(alias="If-Match")]
