"""The kinds of value an expression sees, shared by field types and the expression checker.

At run time an expression value is one of:

=============  =====================================================================
``NUMBER``     ``int`` or ``float`` (never ``bool``)
``TEXT``       ``str``
``BOOL``       ``bool``
``DATE``       ``datetime.date``
``DATETIME``   ``datetime.datetime``, timezone-aware
``USER``       a user id (``int``) or a mapping with ``"id"`` (``CURRENT_USER()``)
``LIST``       ``list`` of values (multi-select, users, a sub-form column ``items.amount``)
``RECORD``     ``dict`` of values (an address, a sub-form row, a related record)
``ANY``        unknown until run time (the checker does not complain)
=============  =====================================================================

Blank is ``None`` in every type: 0 in arithmetic, "" in text, as in Excel.
"""

from __future__ import annotations

from enum import StrEnum


class ExprType(StrEnum):
    NUMBER = "number"
    TEXT = "text"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    USER = "user"
    LIST = "list"
    RECORD = "record"
    ANY = "any"


class StorageKind(StrEnum):
    """How the runtime stores and indexes a field's JSON value.

    ``TEXT``/``NUMBER``/``BOOL``: a scalar, indexed with a cast of ``json_extract``/``->>``.
    ``DATE``/``DATETIME``: an ISO 8601 string that sorts as text (datetimes in UTC with ``Z``).
    ``ARRAY``: a JSON array of scalars (``contains`` tests membership).
    ``JSON``: an object or array of objects; not indexed.
    ``NONE``: the field holds no value (layout only).
    """

    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    ARRAY = "array"
    JSON = "json"
    NONE = "none"
