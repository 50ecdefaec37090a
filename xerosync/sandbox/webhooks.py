"""The sandbox's webhooks: it tells a receiver what changed, signed, batched and retried as Xero.

Every change to a contact, invoice (ACCREC and ACCPAY alike: Xero sends both) or credit note
becomes an event (CREATE for a new record, UPDATE otherwise), whatever made it: an API write
or a control-API edit. Items cause none (Xero has no item webhooks), and neither does seeding.
Events wait in one queue (one webhook subscription per app, events of every organisation) and a
background thread delivers them in batches: one POST with `events`, `firstEventSequence`,
`lastEventSequence` and `entropy`, its raw body signed in `x-xero-signature`
(base64 HMAC-SHA256 with the key). Anything but a 200 within `timeout_seconds` is a failure:
the same events are tried again with a growing wait (`retry_base_seconds` doubling up to
`retry_max_seconds`) until `give_up_seconds` after the first failure, when the subscription
is disabled as Xero disables it; its events are kept and go out once it is enabled again.

Before the first delivery, and again whenever the URL or key changes or the subscription is
enabled, the intent-to-receive check runs: an `events: []` POST correctly signed must be
answered 200 and one wrongly signed 401. Until it passes, events wait (and the check is tried
again on the retry schedule), so a sandbox started before its receiver catches up by itself.

All waits are in Xero seconds times `time_scale` (tests and benches shrink them). Tests replay
delivered events (in the order they ask: duplicates, out-of-order), drop pending ones or pause
delivery through `/_sandbox/webhooks` (controlapi). Not kept by `--state`.
"""

from __future__ import annotations

import json
import logging
import random
import string
import threading
import time
import weakref
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import requests

from xerosync.sandbox import WEBHOOK_KEY, store
from xerosync.sandbox.state import SandboxState
from xerosync.webhooks.signature import sign

log = logging.getLogger("xerosync.sandbox.webhooks")

CATEGORIES = {"Contacts": "CONTACT", "Invoices": "INVOICE", "CreditNotes": "CREDITNOTE"}
"""Collections whose changes Xero reports, and their event category."""
RESOURCE_URL = "https://api.xero.com/api.xro/2.0/{collection}/{id}"
DELIVERED_KEPT = 10_000
MAX_PENDING = 200_000
"""Beyond this many undelivered events the oldest are let go (counted in `overflowed`)."""


@dataclass
class WebhookConfig:
    """The app's webhook subscription, as the developer portal would hold it."""

    url: str | None = None
    key: str = WEBHOOK_KEY
    enabled: bool = True
    paused: bool = False
    """Held back without failing (a test's hand on the tap); not a Xero state."""
    batch_seconds: float = 1.0
    """How long the first event of a batch waits for company (Xero batches events)."""
    max_batch: int = 100
    timeout_seconds: float = 5.0
    """Xero's 5 s: a slower answer is a failed delivery."""
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    give_up_seconds: float = 86400.0
    """Xero retries with decreasing frequency for up to 24 h, then disables the webhook."""
    time_scale: float = 1.0

    def update(self, values: dict[str, Any]) -> None:
        """A partial update; unknown keys or wrong types raise ValueError naming the key."""
        known = {f.name: f for f in fields(self)}
        parsed: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ValueError(f"unknown webhook key {key!r}; known: {', '.join(known)}")
            if key == "url":
                parsed[key] = None if raw in (None, "") else str(raw)
            elif key == "key":
                if not raw:
                    raise ValueError("webhook key 'key' cannot be empty")
                parsed[key] = str(raw)
            elif key in ("enabled", "paused"):
                if not isinstance(raw, bool):
                    raise ValueError(f"webhook key {key!r} needs true or false, got {raw!r}")
                parsed[key] = raw
            else:
                kind = int if key == "max_batch" else float
                try:
                    value = kind(raw)
                except (TypeError, ValueError):
                    raise ValueError(f"webhook key {key!r} needs a number, got {raw!r}") from None
                if value <= 0:
                    raise ValueError(f"webhook key {key!r} must be above 0")
                parsed[key] = value
        for key, value in parsed.items():
            setattr(self, key, value)

    def wall(self, xero_seconds: float) -> float:
        return xero_seconds * self.time_scale


@dataclass
class Attempt:
    at: float
    kind: str
    """`delivery` or `intent`."""
    ok: bool
    detail: str
    sequences: list[int] = field(default_factory=list)
    retry_in: float | None = None
    """After a failure: Xero seconds until the next try (None: disabled or no failure)."""


def xero_time(timestamp: float) -> str:
    """Xero's eventDateUtc: ISO time, milliseconds, no zone."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


class WebhookSender:
    """One sandbox's webhook subscription: its event queue and its delivery thread."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = WebhookConfig()
        self.cond = threading.Condition()
        self.pending: deque[dict[str, Any]] = deque()
        self.delivered: deque[dict[str, Any]] = deque(maxlen=DELIVERED_KEPT)
        self.attempts: deque[Attempt] = deque(maxlen=1000)
        self.sequence = 0
        self.verified = False
        self.failures = 0
        self.failing_since: float | None = None
        self.next_try_at = 0.0
        self.overflowed = 0
        self.disabled_reason: str | None = None
        self._hurry = False
        self._owner: dict[int, str] = {}
        self._stop = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        store.LISTENERS.append(self.record_change)
        self._thread.start()

    # -- events in ----------------------------------------------------------------------------
    def _tenant_of(self, collection: store.Collection) -> str | None:
        """This sandbox's tenant holding `collection`; None for another sandbox's or a seed's."""
        tenant_id = self._owner.get(id(collection))
        tenant = self.state.tenants.get(tenant_id) if tenant_id else None
        if tenant is not None and tenant.collections.get(collection.name) is collection:
            return tenant_id
        for tenant in self.state.tenants.values():
            if tenant.collections.get(collection.name) is collection:
                self._owner[id(collection)] = tenant.tenant_id
                return tenant.tenant_id
        return None

    def record_change(
        self, collection: store.Collection, record: store.Record, created: bool
    ) -> None:
        """`store.LISTENERS` hook: called under the state lock for every stored record."""
        category = CATEGORIES.get(collection.name)
        if category is None or not self.config.url:
            return
        with self.state.lock:
            tenant_id = self._tenant_of(collection)
            now = self.state.clock.now()
        if tenant_id is None:
            return
        record_id = str(record[collection.id_field])
        event: dict[str, Any] = {
            "resourceUrl": RESOURCE_URL.format(collection=collection.name, id=record_id),
            "resourceId": record_id,
            "eventDateUtc": xero_time(now),
            "eventType": "CREATE" if created else "UPDATE",
            "eventCategory": category,
            "tenantId": tenant_id,
            "tenantType": "ORGANISATION",
        }
        if category == "CREDITNOTE":
            event["data"] = {"Type": record.get("Type"), "Status": record.get("Status")}
        with self.cond:
            self.sequence += 1
            self.pending.append({"sequence": self.sequence, "queued_at": time.time(), **event})
            if len(self.pending) > MAX_PENDING:
                self.pending.popleft()
                self.overflowed += 1
            self.cond.notify_all()

    # -- control --------------------------------------------------------------------------------
    def configure(self, values: dict[str, Any]) -> None:
        """New settings; a new URL or key, or enabling, asks for intent-to-receive again."""
        with self.cond:
            before = (self.config.url, self.config.key, self.config.enabled)
            self.config.update(values)
            after = (self.config.url, self.config.key, self.config.enabled)
            if after != before:
                self.verified = False
                self._clear_failures()
                if self.config.enabled:
                    self.disabled_reason = None
            self.cond.notify_all()

    def _clear_failures(self) -> None:
        self.failures = 0
        self.failing_since = None
        self.next_try_at = 0.0

    def replay(self, sequences: list[int] | None) -> list[int]:
        """Delivered events queued again, in the order given (all delivered ones if None)."""
        with self.cond:
            by_seq = {e["sequence"]: e for e in self.delivered}
            if sequences is None:
                sequences = list(by_seq)
            missing = [s for s in sequences if s not in by_seq]
            if missing:
                raise ValueError(f"no delivered event with sequence {missing}")
            for seq in sequences:
                self.pending.append({**by_seq[seq], "queued_at": time.time(), "replayed": True})
            self.cond.notify_all()
            return sequences

    def drop(self, sequences: list[int] | None) -> int:
        """Pending events let go (all if None); how many."""
        with self.cond:
            before = len(self.pending)
            if sequences is None:
                self.pending.clear()
            else:
                wanted = set(sequences)
                self.pending = deque(e for e in self.pending if e["sequence"] not in wanted)
            return before - len(self.pending)

    def deliver_now(self) -> None:
        """Skip the batch window and any back-off wait (a test that needs no clock)."""
        with self.cond:
            self.next_try_at = 0.0
            self._hurry = True
            self.cond.notify_all()

    def status(self) -> dict[str, Any]:
        with self.cond:
            return {
                **asdict(self.config),
                "verified": self.verified,
                "pending": len(self.pending),
                "delivered": len(self.delivered),
                "last_sequence": self.sequence,
                "failures": self.failures,
                "failing_since": self.failing_since,
                "next_try_in": max(0.0, self.next_try_at - time.time()) if self.failures else 0.0,
                "disabled_reason": self.disabled_reason,
                "overflowed": self.overflowed,
                "attempts": [asdict(a) for a in list(self.attempts)[-20:]],
            }

    def events(self, which: str) -> list[dict[str, Any]]:
        with self.cond:
            if which == "pending":
                return list(self.pending)
            if which == "delivered":
                return list(self.delivered)
        raise ValueError("events are `pending` or `delivered`")

    def stop(self) -> None:
        self._stop.set()
        with self.cond:
            self.cond.notify_all()
        self._thread.join(timeout=10)
        if self.record_change in store.LISTENERS:
            store.LISTENERS.remove(self.record_change)

    # -- the delivery thread ----------------------------------------------------------------------
    def _due(self) -> tuple[str | None, float]:
        """What to do now (`intent`, `delivery` or None) and, if nothing, how long to wait."""
        c = self.config
        if not c.url or not c.enabled or c.paused:
            return None, 3600.0
        now = time.time()
        if self.failures and now < self.next_try_at:
            return None, self.next_try_at - now
        if not self.verified:
            return "intent", 0.0
        if not self.pending:
            return None, 3600.0
        ready_at = self.pending[0]["queued_at"] + c.wall(c.batch_seconds)
        if self._hurry or len(self.pending) >= c.max_batch or now >= ready_at:
            return "delivery", 0.0
        return None, ready_at - now

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.cond:
                action, wait = self._due()
                if action is None:
                    self.cond.wait(timeout=min(wait, 3600.0))
                    continue
                self._hurry = False
                url, key, timeout = self.config.url, self.config.key, self.config.timeout_seconds
                batch = list(self.pending)[: self.config.max_batch] if action == "delivery" else []
            assert url is not None
            try:
                if action == "intent":
                    ok, detail = self._intent(url, key, timeout)
                else:
                    ok, detail = self._deliver(url, key, timeout, batch)
            except Exception as exc:  # the thread must outlive any surprise
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            self._settle(action, ok, detail, batch)

    def _post(self, url: str, body: bytes, signature: str, timeout: float) -> int:
        response = self._session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "x-xero-signature": signature},
            timeout=timeout,
        )
        return response.status_code

    def _intent(self, url: str, key: str, timeout: float) -> tuple[bool, str]:
        body = self._body([])
        try:
            good = self._post(url, body, sign(body, key), timeout)
            bad = self._post(url, body, sign(body, key + "-not-the-key"), timeout)
        except requests.RequestException as exc:
            return False, f"intent to receive: {type(exc).__name__}"
        if good == 200 and bad == 401:
            return True, "intent to receive: 200 signed, 401 wrongly signed"
        return False, f"intent to receive: {good} for the signed, {bad} for the wrongly signed"

    def _deliver(
        self, url: str, key: str, timeout: float, batch: list[dict[str, Any]]
    ) -> tuple[bool, str]:
        body = self._body(batch)
        try:
            status = self._post(url, body, sign(body, key), timeout)
        except requests.RequestException as exc:
            return False, f"{len(batch)} event(s): {type(exc).__name__}"
        return status == 200, f"{len(batch)} event(s): {status}"

    @staticmethod
    def _body(batch: list[dict[str, Any]]) -> bytes:
        events = [
            {k: v for k, v in e.items() if k not in ("sequence", "queued_at", "replayed")}
            for e in batch
        ]
        sequences = [e["sequence"] for e in batch] or [0]
        entropy = "".join(random.choices(string.ascii_uppercase, k=20))
        return json.dumps(
            {
                "events": events,
                "firstEventSequence": min(sequences),
                "lastEventSequence": max(sequences),
                "entropy": entropy,
            }
        ).encode()

    def _settle(self, action: str, ok: bool, detail: str, batch: list[dict[str, Any]]) -> None:
        now = time.time()
        with self.cond:
            attempt = Attempt(now, action, ok, detail, [e["sequence"] for e in batch])
            self.attempts.append(attempt)
            if ok:
                self._clear_failures()
                if action == "intent":
                    self.verified = True
                else:
                    sent = {id(e) for e in batch}
                    self.pending = deque(e for e in self.pending if id(e) not in sent)
                    self.delivered.extend(batch)
                return
            log.info("webhook %s failed (%s)", action, detail)
            self.failures += 1
            self.failing_since = self.failing_since or now
            c = self.config
            if now - self.failing_since >= c.wall(c.give_up_seconds):
                self.config.enabled = False
                self.disabled_reason = (
                    f"disabled after {self.failures} failed attempts over "
                    f"{c.give_up_seconds:.0f} s ({detail})"
                )
                log.warning("sandbox webhooks %s", self.disabled_reason)
                self._clear_failures()
                return
            delay = min(c.retry_base_seconds * 2 ** (self.failures - 1), c.retry_max_seconds)
            attempt.retry_in = delay
            self.next_try_at = now + c.wall(delay)


_SENDERS: weakref.WeakKeyDictionary[SandboxState, WebhookSender] = weakref.WeakKeyDictionary()
_SENDERS_LOCK = threading.Lock()


def sender_for(state: SandboxState) -> WebhookSender:
    """The state's sender, started on first use (a sandbox without webhooks runs no thread)."""
    with _SENDERS_LOCK:
        sender = _SENDERS.get(state)
        if sender is None:
            sender = _SENDERS[state] = WebhookSender(state)
        return sender


def stop(state: SandboxState) -> None:
    """Stop the state's sender, if it has one."""
    with _SENDERS_LOCK:
        sender = _SENDERS.pop(state, None)
    if sender is not None:
        sender.stop()
