"""The system tables (SQLAlchemy Core), the single source the migrations are checked against.

Conventions:
- Surrogate keys are integers; high-volume tables use 64-bit ones (:data:`BigIntId`). Tables
  whose ids leave the database (users, apps, forms, records…) never reuse an id, even after a
  purge (``sqlite_autoincrement``; PostgreSQL sequences never reuse).
- Every timestamp is :class:`UTCDateTime` (aware, UTC). Inserts default ``created_at``-like
  columns to now; ``updated_at`` is set explicitly by the code that updates.
- Constraint and index names come from :data:`NAMING_CONVENTION`, so migrations can name them.
- Defaults live on the Python side (Core inserts apply them); the database enforces NOT NULL.
- Record data, definitions and payloads are :data:`JSONType` (JSONB on PostgreSQL).

Changing anything here needs a migration: ``tests/runtime/test_migrations.py`` compares this
metadata with a migrated database.
"""

from __future__ import annotations

import sqlalchemy as sa

from runtime.store.sqltypes import BigIntId, JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True)


def _bigid() -> sa.Column[int]:
    return sa.Column("id", BigIntId, primary_key=True)


def _created_at(name: str = "created_at") -> sa.Column[object]:
    return sa.Column(name, UTCDateTime, nullable=False, default=utcnow)


def _updated_at() -> sa.Column[object]:
    return sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow)


def _maybe_at(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime, nullable=True)


def _user_fk(name: str, *, nullable: bool = True, ondelete: str | None = None) -> sa.Column[int]:
    return sa.Column(name, sa.ForeignKey("users.id", ondelete=ondelete), nullable=nullable)


# --- organisation and auth ---------------------------------------------------------------------

users = sa.Table(
    "users",
    metadata,
    _id(),
    # Stored lower-cased (the app lower-cases before writing; the check keeps it honest).
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=True),
    # NULL: cannot log in with a password (invited, or disabled login).
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("is_active", sa.Boolean, nullable=False, default=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("must_change_password", sa.Boolean, nullable=False, default=False),
    # Free attributes data scopes can name (``CURRENT_USER().region``): {"region": "华东"}.
    sa.Column("attributes", JSONType, nullable=True),
    _created_at(),
    _updated_at(),
    sa.CheckConstraint("email = lower(email)", name="email_lower"),
    sqlite_autoincrement=True,
)

departments = sa.Table(
    "departments",
    metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("parent_id", sa.ForeignKey("departments.id"), nullable=True, index=True),
    _user_fk("head_user_id", ondelete="SET NULL"),
    sqlite_autoincrement=True,
)

roles = sa.Table(
    "roles",
    metadata,
    _id(),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sqlite_autoincrement=True,
)

role_members = sa.Table(
    "role_members",
    metadata,
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_role_members_user_id", "user_id"),
)

user_departments = sa.Table(
    "user_departments",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "department_id", sa.ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Index("ix_user_departments_department_id", "department_id"),
)

# Per-app administrators: they manage the app's forms and permission sets, and see all its data.
app_admins = sa.Table(
    "app_admins",
    metadata,
    sa.Column("app_id", sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_app_admins_user_id", "user_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _id(),
    _user_fk("user_id", nullable=False, ondelete="CASCADE"),
    # sha256 of the token; the token itself is shown once and never stored.
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    _created_at(),
    _maybe_at("last_used_at"),
    _maybe_at("revoked_at"),
    sa.Index("ix_api_tokens_user_id", "user_id"),
    sqlite_autoincrement=True,
)

sessions = sa.Table(
    "sessions",
    metadata,
    # sha256 of the cookie value, so a leaked table does not leak live sessions.
    sa.Column("id", sa.Text, primary_key=True),
    _user_fk("user_id", nullable=False, ondelete="CASCADE"),
    sa.Column("csrf_token", sa.Text, nullable=False),
    _created_at(),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("ip", sa.Text, nullable=True),
    sa.Column("user_agent", sa.Text, nullable=True),
    sa.Index("ix_sessions_user_id", "user_id"),
    sa.Index("ix_sessions_expires_at", "expires_at"),
)

# --- apps and forms ----------------------------------------------------------------------------

apps = sa.Table(
    "apps",
    metadata,
    _id(),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("icon", sa.Text, nullable=True),
    _created_at(),
    _updated_at(),
    _maybe_at("deleted_at"),
    sqlite_autoincrement=True,
)

forms = sa.Table(
    "forms",
    metadata,
    _id(),
    sa.Column("app_id", sa.ForeignKey("apps.id"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("draft", JSONType, nullable=False),
    # NULL until the first publish; then the newest row of form_versions.
    sa.Column("published_version", sa.Integer, nullable=True),
    # The version the last finished upgrade pass brought the form's records to
    # (runtime.services.upgrade); NULL: none recorded.
    sa.Column("upgraded_version", sa.Integer, nullable=True),
    _created_at(),
    _updated_at(),
    sa.UniqueConstraint("app_id", "key"),
    sqlite_autoincrement=True,
)

form_versions = sa.Table(
    "form_versions",
    metadata,
    sa.Column("form_id", sa.ForeignKey("forms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    # Immutable once written: records name the version they were written with.
    sa.Column("definition", JSONType, nullable=False),
    _created_at("published_at"),
    _user_fk("published_by"),
)

# --- permissions -------------------------------------------------------------------------------

# A form's permission set: the actions it grants, the records it reaches (``scope``:
# {"kind": "own"|"department"|"all"|"filter", "filter": {…}}) and its field permissions
# ({"hidden": [...], "read_only": [...]}); see runtime.permissions.
permission_sets = sa.Table(
    "permission_sets",
    metadata,
    _id(),
    sa.Column("form_id", sa.ForeignKey("forms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("preset", sa.Text, nullable=True),
    sa.Column("actions", JSONType, nullable=False),
    sa.Column("scope", JSONType, nullable=False),
    sa.Column("fields", JSONType, nullable=False),
    _created_at(),
    _updated_at(),
    sa.Index("ix_permission_sets_form_id", "form_id"),
    sqlite_autoincrement=True,
)

# Who a set applies to: a user, a role's members, or a department's members (with its
# sub-departments).
permission_set_members = sa.Table(
    "permission_set_members",
    metadata,
    sa.Column("set_id", sa.ForeignKey("permission_sets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("member_id", sa.Integer, primary_key=True),
    sa.CheckConstraint("kind IN ('user', 'role', 'department')", name="kind"),
    sa.Index("ix_permission_set_members_kind_member_id", "kind", "member_id"),
)

# --- records and what hangs off them -----------------------------------------------------------

records = sa.Table(
    "records",
    metadata,
    _bigid(),
    sa.Column("form_id", sa.ForeignKey("forms.id"), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("stage", sa.Text, nullable=True),
    sa.Column("data", JSONType, nullable=False),
    # Values kept but not shown: removed fields and values that did not convert when the form
    # changed ({"key": {"type", "value"}}); they return if the field comes back (builder.diff).
    sa.Column("hidden", JSONType, nullable=True),
    # Lower-cased text of the record's searchable fields, kept by the store on every write;
    # the search index (FTS5 trigram / pg_trgm) and the short-query path read it.
    sa.Column("search_text", sa.Text, nullable=True),
    _user_fk("owner_id"),
    _user_fk("assignee_id"),
    _created_at(),
    _user_fk("created_by"),
    _updated_at(),
    _user_fk("updated_by"),
    # Optimistic concurrency: every write names the version it read and bumps it.
    sa.Column("version", sa.Integer, nullable=False, default=1),
    _maybe_at("deleted_at"),
    _user_fk("deleted_by"),
    # Lists: live records of a form in id order (keyset pagination).
    sa.Index("ix_records_form_id_deleted_at_id", "form_id", "deleted_at", "id"),
    sa.Index("ix_records_form_id_stage", "form_id", "stage"),
    sa.Index("ix_records_owner_id", "owner_id"),
    sa.Index("ix_records_assignee_id", "assignee_id"),
    sqlite_autoincrement=True,
)

# One row per live value of a field marked unique: the primary key makes two records with the
# same value impossible even for concurrent writers. ``value_key`` is the value as canonical JSON.
record_unique = sa.Table(
    "record_unique",
    metadata,
    # No foreign key on form_id (nor on the form_id and actor_id of record_history and
    # stage_log): each is implied by one that is checked in the same write — record_id ->
    # records.form_id, and the actor is the records row's created_by / updated_by — and forms
    # and users are never deleted. PostgreSQL checks every foreign key of every inserted row
    # with a lookup of its own (≈ 5 µs a row; docs/performance.md, "Bulk create: fewer checks").
    sa.Column("form_id", sa.Integer, primary_key=True),
    sa.Column("field_key", sa.Text, primary_key=True),
    sa.Column("value_key", sa.Text, primary_key=True),
    sa.Column(
        "record_id", BigIntId, sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Index("ix_record_unique_record_id", "record_id"),
)

record_history = sa.Table(
    "record_history",
    metadata,
    _bigid(),
    sa.Column("record_id", sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    # form_id and actor_id: no foreign keys (see record_unique).
    sa.Column("form_id", sa.Integer, nullable=False),
    # The record's version after this write.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    _created_at("at"),
    # Per field: {"key": [old, new]}; replaying diffs rebuilds any past state.
    sa.Column("diff", JSONType, nullable=False),
    # Why, when the action carries a comment (a reassignment's 转交 note).
    sa.Column("comment", sa.Text, nullable=True),
    sa.Index("ix_record_history_record_id_version", "record_id", "version"),
    sa.Index("ix_record_history_form_id_at", "form_id", "at"),
)

record_comments = sa.Table(
    "record_comments",
    metadata,
    _bigid(),
    sa.Column("record_id", sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    _user_fk("author_id"),
    sa.Column("body", sa.Text, nullable=False),
    _created_at(),
    _maybe_at("updated_at"),
    _maybe_at("deleted_at"),
    sa.Index("ix_record_comments_record_id_created_at", "record_id", "created_at"),
)

# Files live on disk under the data dir, named by content hash; this is their catalogue.
attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mime", sa.Text, nullable=False),
    _created_at(),
)

serial_counters = sa.Table(
    "serial_counters",
    metadata,
    sa.Column("form_id", sa.ForeignKey("forms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("field_key", sa.Text, primary_key=True),
    # The reset period the counter belongs to ("" for never, "2026", "2026-11", …).
    sa.Column("period", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# --- workflow ----------------------------------------------------------------------------------

stage_log = sa.Table(
    "stage_log",
    metadata,
    _bigid(),
    sa.Column("record_id", sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    # form_id and actor_id: no foreign keys (see record_unique).
    sa.Column("form_id", sa.Integer, nullable=False),
    sa.Column("from_stage", sa.Text, nullable=True),
    sa.Column("to_stage", sa.Text, nullable=False),
    sa.Column("transition", sa.Text, nullable=True),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    # Entered ``to_stage`` at ``at``; left it at ``left_at`` (NULL while still there).
    _created_at("at"),
    _maybe_at("due_at"),
    _maybe_at("left_at"),
    # NULL for entries made by a transition or on create; "migrated" when publishing a new
    # workflow version moved the record out of a removed stage.
    sa.Column("action", sa.Text, nullable=True),
    sa.Index("ix_stage_log_record_id_at", "record_id", "at"),
    # Process data of a form over a period (transition counts, breach rates).
    sa.Index("ix_stage_log_form_id_at", "form_id", "at"),
    # Overdue records of a form, most overdue first.
    sa.Index(
        "ix_stage_log_form_id_open_due_at",
        "form_id",
        "due_at",
        sqlite_where=sa.text("left_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL"),
    ),
    # Cycle time and throughput per stage of a form over a period.
    sa.Index("ix_stage_log_form_id_to_stage_at", "form_id", "to_stage", "at"),
    # Work lists: the records a user moved ("handled").
    sa.Index("ix_stage_log_actor_id_record_id", "actor_id", "record_id"),
    # SLA scan: open stays with a deadline.
    sa.Index(
        "ix_stage_log_open_due_at",
        "due_at",
        sqlite_where=sa.text("left_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL"),
    ),
)

# One row per escalation rule that fired for one stay in a stage (stage_log row): the primary
# key makes every escalation fire once, however many workers run the scan at the same moment.
escalation_runs = sa.Table(
    "escalation_runs",
    metadata,
    sa.Column(
        "stage_log_id",
        BigIntId,
        sa.ForeignKey("stage_log.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The rule's key (builder.workflow.escalation_keys: what it says, not where it stands).
    sa.Column("rule", sa.Text, primary_key=True),
    sa.Column("record_id", sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    _created_at("fired_at"),
    # "done", or why an action could not run ("transition_refused: …").
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Index("ix_escalation_runs_record_id", "record_id"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    _bigid(),
    sa.Column("record_id", sa.ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    sa.Column("stage", sa.Text, nullable=False),
    # A stage entered again starts a new round; earlier decisions stay for the log.
    sa.Column("round", sa.Integer, nullable=False),
    _user_fk("approver_id", nullable=False),
    # NULL while pending; otherwise "approved" / "rejected".
    sa.Column("decision", sa.Text, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    _created_at(),
    _maybe_at("decided_at"),
    # The stay in the stage this round belongs to: the round is live while the stay is open.
    sa.Column(
        "stay_id", BigIntId, sa.ForeignKey("stage_log.id", ondelete="CASCADE"), nullable=True
    ),
    # Who added this approver (加签); NULL for approvers the definition names.
    _user_fk("added_by"),
    sa.Index("ix_approvals_record_id_stage_round", "record_id", "stage", "round"),
    sa.Index("ix_approvals_approver_id_decided_at", "approver_id", "decided_at"),
    sa.Index("ix_approvals_stay_id", "stay_id"),
)

# Round-robin assignment: the number of records given out so far per stage. Incremented by an
# upsert in the record's transaction, so concurrent writers never pick the same turn.
round_robin_counters = sa.Table(
    "round_robin_counters",
    metadata,
    sa.Column("form_id", sa.ForeignKey("forms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("stage", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# --- notifications, events, audit --------------------------------------------------------------

notifications = sa.Table(
    "notifications",
    metadata,
    _bigid(),
    _user_fk("user_id", nullable=False, ondelete="CASCADE"),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("record_id", sa.ForeignKey("records.id", ondelete="SET NULL"), nullable=True),
    _created_at(),
    _maybe_at("read_at"),
    sa.Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
)

# Written in the same transaction as the change that caused it; a worker delivers it later.
outbox = sa.Table(
    "outbox",
    metadata,
    _bigid(),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    _created_at(),
    sa.Column("available_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    _maybe_at("done_at"),
    sa.Index(
        "ix_outbox_pending",
        "available_at",
        "id",
        sqlite_where=sa.text("done_at IS NULL"),
        postgresql_where=sa.text("done_at IS NULL"),
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    _bigid(),
    _user_fk("actor_id"),
    sa.Column("action", sa.Text, nullable=False),
    # What was acted on, e.g. "form:12" or "user:3".
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("detail", JSONType, nullable=False, default=dict),
    sa.Column("ip", sa.Text, nullable=True),
    _created_at("at"),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_actor_id_at", "actor_id", "at"),
)

# --- public links and rate limits ----------------------------------------------------------------

# A form shared with people who have no account: a fill link creates records, a query link
# answers one record's chosen fields to whoever matches its chosen fields exactly.
public_links = sa.Table(
    "public_links",
    metadata,
    _id(),
    sa.Column("form_id", sa.ForeignKey("forms.id", ondelete="CASCADE"), nullable=False),
    # "fill" or "query".
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # sha256 of the link's token; the token is shown once, when the link is made.
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    # argon2id of the link's password; NULL: no password.
    sa.Column("password_hash", sa.Text, nullable=True),
    # Query links: {"match": [{"field", "match", "length"}], "show": [...], "show_stage"}.
    sa.Column("config", JSONType, nullable=False, default=dict),
    _maybe_at("expires_at"),
    _user_fk("created_by"),
    _created_at(),
    _maybe_at("revoked_at"),
    sa.CheckConstraint("kind IN ('fill', 'query')", name="kind"),
    sa.Index("ix_public_links_form_id", "form_id"),
    sqlite_autoincrement=True,
)

# One row per counted event (a failed login, a public-link request) under a key such as
# "login-account:ann@example.com" or "link-ip:3|203.0.113.9". Kept in the database so every
# server process sees the same counts; rows older than the longest window are pruned.
rate_events = sa.Table(
    "rate_events",
    metadata,
    _bigid(),
    sa.Column("key", sa.Text, nullable=False),
    _created_at("at"),
    sa.Index("ix_rate_events_key_at", "key", "at"),
    sa.Index("ix_rate_events_at", "at"),
)
