"""In-memory organisation data: one `Tenant` per organisation, one `Collection` per resource.

A collection's dict is kept in `UpdatedDateUTC` order (an update moves the record to the end),
so `order=UpdatedDateUTC ASC` — the order the client pages in — never needs a sort. Query
results are cached per collection version, so paging through 100k invoices filters once and
then slices. All access happens under `SandboxState.lock` (see state.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

Record = dict[str, Any]

_CACHE_SIZE = 16

ChangeListener = Callable[["Collection", Record, bool], None]
LISTENERS: list[ChangeListener] = []
"""Told of every record stored (collection, record, created?): the sandbox's webhooks
(webhooks.py) hear every API write and control edit here. Called under the state lock."""


class Collection:
    """Records of one resource keyed by id, in UpdatedDateUTC order."""

    def __init__(self, name: str, id_field: str) -> None:
        self.name = name
        self.id_field = id_field
        self.records: dict[str, Record] = {}
        self.version = 0
        self._cache: OrderedDict[Hashable, list[Record]] = OrderedDict()
        self._cache_version = 0

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records.values())

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id.lower())

    def put(self, record: Record) -> None:
        """Insert or replace; the record moves to the end (newest UpdatedDateUTC)."""
        key = str(record[self.id_field]).lower()
        created = self.records.pop(key, None) is None
        self.records[key] = record
        self.version += 1
        for listener in LISTENERS:
            listener(self, record, created)

    def touch_in_place(self) -> None:
        """Note a change that does not alter order (e.g. a read-only flag)."""
        self.version += 1

    def delete(self, record_id: str) -> None:
        if self.records.pop(record_id.lower(), None) is not None:
            self.version += 1

    def query(self, key: Hashable, compute: Callable[[], list[Record]]) -> list[Record]:
        """A cached query result; any write to the collection invalidates it."""
        if self._cache_version != self.version:
            self._cache.clear()
            self._cache_version = self.version
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        result = compute()
        self._cache[key] = result
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return result


COLLECTIONS: dict[str, str] = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Accounts": "AccountID",
    "TaxRates": "TaxType",
    "Currencies": "Code",
    "BrandingThemes": "BrandingThemeID",
    "TrackingCategories": "TrackingCategoryID",
}


class Tenant:
    """One organisation: its collections, organisation record and number sequences."""

    def __init__(self, tenant_id: str, name: str, created_at: float) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.created_at = created_at
        self.organisation: Record = {}
        self.collections = {name: Collection(name, key) for name, key in COLLECTIONS.items()}
        self.sequences: dict[str, int] = {"INV": 0, "CN": 0}
        # unique keys -> record id, kept by the resource modules (lower-cased keys)
        self.indexes: dict[str, dict[str, str]] = {
            "contact_name": {},
            "contact_number": {},
            "item_code": {},
            "invoice_number": {},
            "credit_note_number": {},
        }
        self.last_ms = 0

    def __getitem__(self, name: str) -> Collection:
        return self.collections[name]

    def stamp(self, now_ms: int) -> int:
        """A new UpdatedDateUTC: the clock, never earlier than the last one handed out."""
        self.last_ms = max(now_ms, self.last_ms)
        return self.last_ms

    def next_number(self, prefix: str, taken: Callable[[str], bool]) -> str:
        """The next free auto number, e.g. INV-0042, skipping numbers already used."""
        while True:
            self.sequences[prefix] = self.sequences.get(prefix, 0) + 1
            candidate = f"{prefix}-{self.sequences[prefix]:04d}"
            if not taken(candidate):
                return candidate
