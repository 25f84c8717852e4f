"""The engine-error table covers the whole error tree (no database needed)."""

from __future__ import annotations

import runtime.errors as module
from app.errors import ENGINE_STATUS
from runtime.errors import EngineError, UnsupportedDatabaseError


def test_every_engine_error_class_is_in_the_table() -> None:
    # A new subclass of runtime.errors must get a status here, not fall through to 500.
    classes = {
        cls
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, EngineError) and cls is not EngineError
    }
    unmapped = {
        cls.__name__
        for cls in classes
        if not any(base in ENGINE_STATUS for base in cls.__mro__)
        # Raised at start-up only (a bad STAGEFORM_DATABASE_URL), never during a request.
        and cls is not UnsupportedDatabaseError
    }
    assert unmapped == set()
