"""The operations the API, the pages, the CLI and automations perform on apps, forms and
records — one method each, over the caller's transaction (``conn``, opened and committed by
the caller). Definitions are validated by the builder, record data goes through the pipeline,
the store writes.

One module per area; :class:`Services` combines them. Data-level permission checks (scopes,
field permissions) are :meth:`runtime.services.base.ServiceBase._form_action` and
``_record_for`` over :mod:`runtime.permissions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder import AppDefinition, dump_form
from runtime.actor import Actor
from runtime.services.approvals import ApprovalServices
from runtime.services.base import _authorize
from runtime.services.definitions import DefinitionServices
from runtime.services.links import LinkServices
from runtime.services.org import OrgServices
from runtime.services.records import RecordServices
from runtime.services.stages import StageServices
from runtime.services.tasks import TaskServices
from runtime.services.workflow import WorkflowServices
from runtime.store import forms as form_store
from runtime.store import org as org_store


@dataclass
class Services(
    DefinitionServices,
    LinkServices,
    RecordServices,
    WorkflowServices,
    StageServices,
    ApprovalServices,
    TaskServices,
    OrgServices,
):
    """Every engine operation; see the modules beside this one."""

    def install_app(
        self,
        conn: Any,
        actor: Actor,
        app: AppDefinition,
        sample_data: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> form_store.AppRow:
        """Create ``app`` as an ordinary app: the roles its workflows name that do not exist
        yet (roles are the organisation's, shared by apps: an existing one is kept as it is),
        every form saved, then published (so relations between them resolve in any order),
        then the sample records created.

        Automations and dashboards of the definition are not stored yet (their tables arrive
        with the automations and dashboards issues).

        Raises: ConflictError (key taken), DefinitionRejectedError, RecordValidationError.
        """
        _authorize(actor, "app:create")
        row = self.create_app(
            conn,
            actor,
            key=app.key,
            name=app.name,
            description=app.description or "",
            icon=app.icon,
        )
        existing = {role.key for role in org_store.list_roles(conn)}
        for role in app.roles:
            if role.key not in existing:
                self.create_role(conn, actor, key=role.key, name=role.name)
        form_ids = {
            f.key: self.create_form(conn, actor, row.id, dump_form(f)).id for f in app.forms
        }
        for form_id in form_ids.values():
            self.publish_form(conn, actor, form_id)
        for form_key, rows in (sample_data or {}).items():
            if form_key in form_ids:
                self.bulk_create(conn, actor, form_ids[form_key], [{"data": r} for r in rows])
        return row


__all__ = ["Services"]
