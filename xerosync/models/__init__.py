"""SQLAlchemy models: `crm` for the CRM's own rows, `sync` for the state of syncing them."""

from xerosync.models.base import Base, UTCDateTime, utcnow
from xerosync.models.crm import (
    CreditNote,
    CreditNoteLine,
    Customer,
    DocumentStatus,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    OrderStatus,
    Product,
)
from xerosync.models.sync import (
    AuthKind,
    Connection,
    ConnectionStatus,
    LinkKind,
    LinkStatus,
    SyncConflict,
    SyncCursor,
    SyncRun,
    XeroLink,
    XeroWrite,
)

__all__ = [
    "AuthKind",
    "Base",
    "Connection",
    "ConnectionStatus",
    "CreditNote",
    "CreditNoteLine",
    "Customer",
    "DocumentStatus",
    "Invoice",
    "InvoiceLine",
    "LinkKind",
    "LinkStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Product",
    "SyncConflict",
    "SyncCursor",
    "SyncRun",
    "UTCDateTime",
    "XeroLink",
    "XeroWrite",
    "utcnow",
]
