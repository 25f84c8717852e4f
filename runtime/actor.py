"""Who is acting: every service call names its actor."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    """A signed-in user (``user_id``) or the system itself (``user_id=None``: automations,
    imports run by an admin's job). ``department_ids`` and ``role_keys`` feed "me",
    "my_department" and workflow roles; ``admin_app_ids`` are the apps they administer;
    ``ip`` is where the request came from (for the audit log)."""

    user_id: int | None
    is_admin: bool = False
    department_ids: frozenset[int] = field(default_factory=frozenset)
    role_keys: frozenset[str] = field(default_factory=frozenset)
    lang: str = "zh"
    admin_app_ids: frozenset[int] = field(default_factory=frozenset)
    # Where the request came from (for the audit log); None outside HTTP.
    ip: str | None = None
    # A visitor of a public fill link: the one form the link lets them create records in.
    link_form_id: int | None = None

    def administers(self, app_id: int) -> bool:
        """Platform admins administer every app."""
        return self.is_admin or app_id in self.admin_app_ids


SYSTEM = Actor(user_id=None, is_admin=True)

# A visitor of a public link: no user, no admin rights; records it creates have no owner.
PUBLIC = Actor(user_id=None, is_admin=False)
