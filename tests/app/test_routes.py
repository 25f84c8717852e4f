"""The order of app.api.ROUTERS decides only how soon a route is found (the record routes come
first because they are the hot ones): no path is matched by routes of two routers (whatever
the method), so moving a router cannot change which route answers a request, nor a 405's
Allow header."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from app.api import ROUTERS

# What a path parameter may be in a request: a number, or a word some other route spells out.
_VALUES = ("1", "bulk", "query", "aggregate", "me", "x")


def _paths(route: APIRoute) -> list[str]:
    return [re.sub(r"\{[^}]+\}", value, route.path) for value in _VALUES]


def test_no_request_is_matched_by_routes_of_two_routers() -> None:
    routes = [
        (i, route)
        for i, router in enumerate(ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) > 50
    clashes = [
        (a.path, b.path, path)
        for i, a in routes
        for j, b in routes
        if i < j
        for path in _paths(a) + _paths(b)
        if a.path_regex.match(path) and b.path_regex.match(path)
    ]
    assert clashes == []
