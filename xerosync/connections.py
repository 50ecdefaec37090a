"""Connected organisations in the database, and their tokens at rest.

`DatabaseTokenStore` is the production `TokenStore` of the Xero client: each save is its own
committed transaction (the refresh lock is released right after it, so it must be durable).
Tokens are Fernet-encrypted with TOKEN_ENCRYPTION_KEY; storing them in clear is allowed only
against the local sandbox, and refused anywhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from xerosync import redaction
from xerosync.models import AuthKind, Connection, ConnectionStatus
from xerosync.settings import Settings
from xerosync.xero.auth import TokenSet
from xerosync.xero.crypto import TokenCipher


class OrganisationError(RuntimeError):
    """A connection is missing or cannot be used; the message says which and why."""


class EncryptionRequired(OrganisationError):
    """Tokens for a real Xero would be stored unencrypted."""


def token_cipher(settings: Settings) -> TokenCipher | None:
    """The cipher for stored tokens; None (clear text) only against the sandbox."""
    if settings.TOKEN_ENCRYPTION_KEY:
        return TokenCipher(settings.TOKEN_ENCRYPTION_KEY)
    if settings.uses_sandbox:
        return None
    raise EncryptionRequired(
        "TOKEN_ENCRYPTION_KEY is not set: xerosync stores Xero tokens only encrypted outside "
        "the sandbox; .env.example shows how to generate a key"
    )


def seal(tokens: TokenSet, cipher: TokenCipher | None) -> tuple[str, bool]:
    """(blob, encrypted) for the `connections.token_blob` column."""
    redaction.remember([tokens.access_token, tokens.refresh_token, tokens.id_token])
    plain = json.dumps(tokens.to_dict())
    if cipher is None:
        return plain, False
    return cipher.encrypt(plain.encode()).decode(), True


def unseal(blob: str, encrypted: bool, cipher: TokenCipher | None) -> TokenSet:
    if not encrypted:
        return TokenSet.from_dict(json.loads(blob))
    if cipher is None:
        raise EncryptionRequired("stored tokens are encrypted but TOKEN_ENCRYPTION_KEY is not set")
    return TokenSet.from_dict(json.loads(cipher.decrypt(blob.encode())))


@dataclass
class DatabaseTokenStore:
    """Tokens in the `connections` table, keyed by tenant id."""

    engine: Engine
    cipher: TokenCipher | None

    def load(self, key: str) -> TokenSet | None:
        with Session(self.engine) as session:
            row = session.scalars(select(Connection).where(Connection.tenant_id == key)).first()
            if row is None or row.token_blob is None:
                return None
            return unseal(row.token_blob, row.token_encrypted, self.cipher)

    def save(self, key: str, tokens: TokenSet) -> None:
        blob, encrypted = seal(tokens, self.cipher)
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(Connection).where(Connection.tenant_id == key)).first()
            if row is None:
                raise OrganisationError(f"no connection for tenant {key}; connect it first")
            row.token_blob = blob
            row.token_encrypted = encrypted
            row.status = ConnectionStatus.ACTIVE.value
            row.status_reason = None

    def reauth_reason(self, key: str) -> str | None:
        with Session(self.engine) as session:
            row = session.execute(
                select(Connection.status, Connection.status_reason).where(
                    Connection.tenant_id == key
                )
            ).first()
        if row is None or row.status == ConnectionStatus.ACTIVE.value:
            return None
        if row.status == ConnectionStatus.DISCONNECTED.value:
            return "the organisation was disconnected"
        return row.status_reason or "Xero no longer accepts this connection's tokens"

    def mark_needs_reauth(self, key: str, reason: str) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(Connection).where(Connection.tenant_id == key)).first()
            if row is not None:
                row.status = ConnectionStatus.NEEDS_REAUTH.value
                row.status_reason = reason


def upsert_connection(
    session: Session,
    *,
    tenant_id: str,
    tenant_name: str,
    tenant_type: str,
    tokens: TokenSet,
    cipher: TokenCipher | None,
) -> Connection:
    """Store (or re-store, after re-authorising) an organisation and its tokens."""
    row = session.scalars(select(Connection).where(Connection.tenant_id == tenant_id)).first()
    if row is None:
        row = Connection(tenant_id=tenant_id, tenant_name=tenant_name)
        session.add(row)
    row.tenant_name = tenant_name
    row.tenant_type = tenant_type
    row.auth_kind = (
        AuthKind.CLIENT_CREDENTIALS.value
        if tokens.grant == "client_credentials"
        else AuthKind.AUTHORIZATION_CODE.value
    )
    row.token_blob, row.token_encrypted = seal(tokens, cipher)
    row.status = ConnectionStatus.ACTIVE.value
    row.status_reason = None
    session.flush()
    return row


def find_connection(session: Session, ref: str | None) -> Connection:
    """A connection by tenant id, tenant name or database id; the only one when `ref` is None."""
    rows = list(session.scalars(select(Connection).order_by(Connection.id)))
    if ref is None:
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise OrganisationError("no organisation is connected: run `xerosync connect`")
        names = ", ".join(f"{r.tenant_name} ({r.tenant_id})" for r in rows)
        raise OrganisationError(f"several organisations are connected, name one of: {names}")
    for row in rows:
        if ref in (row.tenant_id, row.tenant_name, str(row.id)):
            return row
    raise OrganisationError(f"no connected organisation matches {ref!r}")
