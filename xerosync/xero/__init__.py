"""The Xero client: OAuth2 and tokens, the shared rate budget, typed errors, reads and writes.

Nothing here knows about the CRM, SQLAlchemy or Celery; callers pass plain values in.
`build_client` is the one helper that reads settings.
"""

from __future__ import annotations

from xerosync.xero.auth import (
    IdentityClient,
    MemoryTokenStore,
    RedisTokenStore,
    TokenManager,
    TokenSet,
    TokenStore,
)
from xerosync.xero.budget import BudgetLimits, Denial, Permit, RateBudget
from xerosync.xero.client import ElementResult, Exchange, Page, XeroClient
from xerosync.xero.crypto import TokenCipher, TokenCipherError
from xerosync.xero.errors import (
    AuthenticationError,
    BudgetExhausted,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReauthorizationRequired,
    ServerError,
    TransportError,
    ValidationError,
    XeroError,
    XeroTimeout,
)

__all__ = [
    "AuthenticationError",
    "BudgetExhausted",
    "BudgetLimits",
    "Denial",
    "ElementResult",
    "Exchange",
    "IdentityClient",
    "MemoryTokenStore",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Permit",
    "RateBudget",
    "RateLimited",
    "ReauthorizationRequired",
    "RedisTokenStore",
    "ServerError",
    "TokenCipher",
    "TokenCipherError",
    "TokenManager",
    "TokenSet",
    "TokenStore",
    "TransportError",
    "ValidationError",
    "XeroClient",
    "XeroError",
    "XeroTimeout",
]
