"""Everything one unit of sync work needs for one organisation: session, client, settings.

The Xero client is assembled here from the settings and the connection row: the database
token store (encrypted), the locked refresh through Redis, the shared rate budgets (the
organisation's and the app's), and hooks that log every call with the task and organisation,
write its audit row and put it on the connection's spend ledger (`xero/spend.py`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy

import redis
import requests
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from xerosync import logcontext
from xerosync.connections import DatabaseTokenStore, token_cipher
from xerosync.mapping.contacts import TemplateDefaults
from xerosync.mapping.invoices import DeliveryLine
from xerosync.models import Connection, ConnectionStatus
from xerosync.settings import Settings
from xerosync.sync import audit
from xerosync.sync.timeslice import TimeSlice
from xerosync.xero import factory, spend
from xerosync.xero.client import Exchange, XeroClient
from xerosync.xero.errors import ReauthorizationRequired

log = logging.getLogger("xerosync.xero.calls")


@lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    """One pooled client per URL per process."""
    return redis.Redis.from_url(url)


def http_session() -> requests.Session:
    """One HTTP session per process for every organisation's client: a pass reuses the
    kept-alive connection to Xero instead of opening one (and a new pool) per unit of work,
    which with hundreds of organisations per worker is one TCP (and TLS) handshake per pass.
    Nothing of an organisation lives on it: the tenant and bearer go on each request, and it
    keeps no cookies. Keyed by process, so a forked worker child never shares its parent's."""
    return _session_of(os.getpid())


@lru_cache(maxsize=1)
def _session_of(pid: int) -> requests.Session:
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def log_exchange(exchange: Exchange) -> None:
    """One line per call to Xero, naming the task and organisation; never a secret."""
    outcome = exchange.status if exchange.status is not None else "no answer"
    error = f" error={type(exchange.error).__name__}" if exchange.error else ""
    log.info(
        "xero %s %s -> %s in %.0fms org=%s task=%s priority=%s attempt=%d%s",
        exchange.method,
        exchange.path,
        outcome,
        exchange.duration * 1000,
        exchange.tenant_id or logcontext.organisation.get() or "-",
        logcontext.task_id.get() or "-",
        exchange.priority,
        exchange.attempt,
        error,
    )


def both(*hooks: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    """Every hook sees every call; one that fails is logged and does not stop the others."""

    def call(exchange: Exchange) -> None:
        for hook in hooks:
            try:
                hook(exchange)
            except Exception:
                log.exception("on_exchange hook %r failed", hook)

    return call


def build_client(
    settings: Settings,
    connection: Connection,
    engine: Engine,
    recorder: audit.Recorder | None = None,
) -> XeroClient:
    """The Xero client for one connected organisation."""
    if connection.status == ConnectionStatus.NEEDS_REAUTH.value:
        raise ReauthorizationRequired(
            f"{connection.tenant_name} needs re-authorisation ({connection.status_reason}); "
            "run `xerosync connect`"
        )
    if connection.status == ConnectionStatus.DISCONNECTED.value:
        raise ReauthorizationRequired(f"{connection.tenant_name} was disconnected")
    shared = redis_client(settings.REDIS_URL)
    return factory.build_client(
        settings,
        tenant_id=connection.tenant_id,
        store=DatabaseTokenStore(engine, token_cipher(settings)),
        redis_client=shared,
        session=http_session(),
        on_exchange=both(
            log_exchange,
            recorder or audit.Recorder(engine),
            spend.recorder(shared, connection.id),
        ),
    )


def open_context(
    session: Session, connection: Connection, settings: Settings, engine: Engine
) -> OrgContext:
    """An organisation's unit of work on `session`, its audit rows written as it commits."""
    recorder = audit.Recorder(engine)
    recorder.follow(session)
    return OrgContext(
        session, connection, build_client(settings, connection, engine, recorder), settings
    )


@dataclass
class OrgContext:
    """One organisation's unit of work: its rows (session), its Xero client, the settings."""

    session: Session
    connection: Connection
    client: XeroClient
    settings: Settings
    time_slice: TimeSlice | None = field(default=None, init=False)
    """Set by a routine pass run as a task: where it must give its process back."""
    _template: TemplateDefaults | None = field(default=None, init=False)
    _template_loaded: bool = field(default=False, init=False)

    @property
    def delivery(self) -> DeliveryLine:
        s = self.settings
        return DeliveryLine(
            account_code=s.DELIVERY_ACCOUNT_CODE,
            tax_type=s.DELIVERY_TAX_TYPE,
            description=s.DELIVERY_DESCRIPTION,
            item_code=s.DELIVERY_ITEM_CODE,
        )

    @property
    def writes_in_flight(self) -> int:
        """Write batches a push may keep in flight: the setting, within the in-flight
        permits routine work may hold (the rest are the invoices' reserve)."""
        wanted = self.settings.PASS_WRITES_IN_FLIGHT
        budget = self.client.budget
        return max(1, min(wanted, budget.limits.routine_concurrent if budget else wanted))

    def template(self, priority: str) -> TemplateDefaults | None:
        """The template ledger's defaults, read from Xero once per unit of work."""
        if not self._template_loaded:
            contact_id = self.connection.template_contact_id
            if contact_id:
                contact = self.client.get("Contacts", contact_id, priority=priority)
                self._template = TemplateDefaults.from_contact(contact)
            else:
                log.warning(
                    "no template ledger set for %s: new contacts get no accounting defaults "
                    "(set one with `xerosync template`)",
                    self.connection.tenant_name,
                )
            self._template_loaded = True
        return self._template
