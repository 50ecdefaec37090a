"""Sync state: connected organisations, cursors, links between CRM rows and Xero records, and
the audit trail of every write sent to Xero.

A link row is also the outbox entry of its record: saving a customer or product sets the
link's `fingerprint`; the record needs a push while it differs from `pushed_fingerprint`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xerosync.models.base import Base, Timestamped, utcnow


class AuthKind(enum.StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    CLIENT_CREDENTIALS = "client_credentials"


class ConnectionStatus(enum.StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    """Xero refused the refresh token: someone must run `xerosync connect` again."""
    DISCONNECTED = "disconnected"
    """Removed with `xerosync disconnect`; kept only because CRM rows still name it."""


class LinkKind(enum.StrEnum):
    CONTACT = "contact"
    ITEM = "item"
    INVOICE = "invoice"


class LinkStatus(enum.StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    ERROR = "error"
    """Xero rejected the record; not retried until it changes or an operator asks."""
    DEFERRED = "deferred"
    """Waiting for Xero's limits to reopen (`retry_after`); the routine pass picks it up."""
    MERGED = "merged"
    """Its Xero record is now linked to another CRM row (a duplicate); never pushed."""


class Connection(Timestamped, Base):
    """One connected Xero organisation (tenant) and its encrypted tokens."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_name: Mapped[str] = mapped_column(String(255))
    tenant_type: Mapped[str] = mapped_column(String(32), default="ORGANISATION")
    auth_kind: Mapped[str] = mapped_column(String(32), default=AuthKind.AUTHORIZATION_CODE.value)
    token_blob: Mapped[str | None] = mapped_column(Text)
    """The token set as JSON, Fernet-encrypted unless `token_encrypted` is false (sandbox only)."""
    token_encrypted: Mapped[bool] = mapped_column(default=True)
    template_contact_id: Mapped[str | None] = mapped_column(String(36))
    """Xero ContactID of the template ledger whose defaults new contacts inherit."""
    status: Mapped[str] = mapped_column(String(20), default=ConnectionStatus.ACTIVE.value)
    status_reason: Mapped[str | None] = mapped_column(Text)


class SyncCursor(Base):
    """How far a stream has read: the largest `UpdatedDateUTC` of a committed page."""

    __tablename__ = "sync_cursors"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    """Xero's clock (`DateTimeUTC`) when the last complete read from at most the cursor's
    second began: once it is safely past that second, the next read asks from the next one."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class XeroLink(Timestamped, Base):
    """A CRM row's counterpart in one organisation, with its push state and last error."""

    __tablename__ = "xero_links"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "local_id"),
        UniqueConstraint("connection_id", "kind", "xero_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    local_id: Mapped[int] = mapped_column(Integer)
    xero_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(20), default=LinkStatus.PENDING.value, index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    """Fingerprint of the pushed fields as the CRM holds them now."""
    pushed_fingerprint: Mapped[str | None] = mapped_column(String(64))
    """Fingerprint of what Xero was last sent (or imported from it)."""
    seen_version: Mapped[int | None] = mapped_column(Integer)
    """The record's `row_version` when `fingerprint` was last derived from the database; the
    routine pass derives it again only once the version moves (a write, ORM or not)."""
    sent_fingerprints: Mapped[list[list[Any]] | None] = mapped_column(JSON)
    """Writes in doubt, as [fingerprint, epoch seconds]: recorded before each write and
    dropped when Xero answers it. A write whose answer was lost may still land late, over a
    newer one, so while one is in doubt the import does not take Xero's change for an edit."""
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_field: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_after: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]
    xero_updated_at: Mapped[datetime | None]
    """`UpdatedDateUTC` of the Xero record as last seen."""


class XeroWrite(Base):
    """One write sent to Xero (an audit row): what, for which rows, and how it ended."""

    __tablename__ = "xero_writes"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str | None] = mapped_column(String(20))
    local_ids: Mapped[list[int] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_body: Mapped[Any | None] = mapped_column(JSON)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(64))


class SyncRun(Base):
    """One routine pass of one organisation: when, how it ended, what it did."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    full: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    """"running", "ok", "interrupted" (rate limit or transport; resumes next pass), "continued"
    (its time slice was used; its continuation queued), "failed"."""
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Per stream and direction, e.g. {"contacts": {"imported": 3}, "push": {...}}."""
    error: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64))


class SyncConflict(Base):
    """A record changed in the CRM and in Xero since the last pass, and how it was settled."""

    __tablename__ = "sync_conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    local_id: Mapped[int] = mapped_column(Integer)
    xero_id: Mapped[str] = mapped_column(String(36))
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    winner: Mapped[str] = mapped_column(String(10))
    """"xero" or "crm": which side's version was kept."""
    crm_changed_at: Mapped[datetime | None]
    xero_changed_at: Mapped[datetime | None]


class ImportReject(Base):
    """A record from Xero that could not be stored (set aside), with what, where and why.

    One row per record: a record read again updates its row (`times`, `last_seen`); it is
    removed once the record is imported. `xerosync errors` and `status` show them.
    """

    __tablename__ = "import_rejects"
    __table_args__ = (UniqueConstraint("connection_id", "resource", "xero_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    resource: Mapped[str] = mapped_column(String(40))
    xero_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    times: Mapped[int] = mapped_column(Integer, default=1)


class ContactMerge(Base):
    """A contact merged in Xero (archived, `MergedToContactID`) and where its customer went."""

    __tablename__ = "contact_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(Integer, index=True)
    """The CRM customer that was linked to the merged contact."""
    merged_contact_id: Mapped[str] = mapped_column(String(36), index=True)
    survivor_contact_id: Mapped[str] = mapped_column(String(36))
    survivor_customer_id: Mapped[int | None] = mapped_column(Integer)
    """Set when the survivor is another CRM customer's contact (the customer's link is then
    MERGED and its orders invoice the survivor); None when the customer now links it itself."""
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)


class VanishedLink(Base):
    """A link whose Xero record no longer exists (an organisation restored or reset, a
    sandbox restarted over a kept database), found when Xero offered another record with the
    same identity, and what was done: the CRM row relinked to it instead of a duplicate."""

    __tablename__ = "vanished_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    local_id: Mapped[int] = mapped_column(Integer)
    vanished_xero_id: Mapped[str] = mapped_column(String(36))
    relinked_xero_id: Mapped[str | None] = mapped_column(String(36))
    matched_by: Mapped[str] = mapped_column(String(20))
    """"number" (our ContactNumber), "email", "name" or "code" (items)."""
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
