"""What ``create_app`` keeps on ``app.state``, as typed dependencies.

They are ``async def`` because they only read an attribute: FastAPI runs a plain ``def``
dependency in its thread pool, a hop to a worker thread and back per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.ratelimit import LinkRateLimiter, LoginRateLimiter
from runtime.services.upgrade import RecordUpgrader
from runtime.store.database import Database
from runtime.store.search_index import SearchIndexer


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_search_indexer(request: Request) -> SearchIndexer:
    """Called by the write dependencies (not a dependency itself)."""
    indexer: SearchIndexer = request.app.state.search_indexer
    return indexer


def get_record_upgrader(request: Request) -> RecordUpgrader:
    """Called by the write dependency after a commit (not a dependency itself)."""
    upgrader: RecordUpgrader = request.app.state.record_upgrader
    return upgrader


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_login_limiter(request: Request) -> LoginRateLimiter:
    limiter: LoginRateLimiter = request.app.state.login_limiter
    return limiter


async def get_link_limiter(request: Request) -> LinkRateLimiter:
    limiter: LinkRateLimiter = request.app.state.link_limiter
    return limiter


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LoginLimiterDep = Annotated[LoginRateLimiter, Depends(get_login_limiter)]
LinkLimiterDep = Annotated[LinkRateLimiter, Depends(get_link_limiter)]
