"""Who is acting: every service call names its actor."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """A signed-in user (``user_id``) or the system itself (``user_id=None``: automations,
    imports run by an admin's job). ``department_ids`` and ``role_keys`` feed "me",
    "my_department" and workflow roles."""

    user_id: int | None
    is_admin: bool = False
    department_ids: frozenset[int] = field(default_factory=frozenset)
    role_keys: frozenset[str] = field(default_factory=frozenset)
    lang: str = "zh"


SYSTEM = Actor(user_id=None, is_admin=True)
