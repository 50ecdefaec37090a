"""The one place in `xerosync.xero` that reads settings: wiring a client for one organisation.

Everything else in the package takes plain values, so it can be tested and reused without a
settings object.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
import requests

from xerosync.settings import Settings
from xerosync.xero.auth import IdentityClient, TokenManager, TokenStore
from xerosync.xero.budget import BudgetLimits, RateBudget, app_limits
from xerosync.xero.client import Exchange, XeroClient


def budget_limits(settings: Settings) -> BudgetLimits:
    return BudgetLimits(
        minute=settings.XERO_MINUTE_LIMIT,
        day=settings.XERO_DAY_LIMIT,
        concurrent=settings.XERO_CONCURRENT_LIMIT,
        minute_seconds=settings.XERO_MINUTE_SECONDS,
        invoice_share=settings.INVOICE_RESERVED_SHARE,
        lease_seconds=max(60.0, settings.XERO_TIMEOUT_SECONDS * 2),
    )


APP_BUDGET_PREFIX = "xerosync:budget:app"


def app_budget(settings: Settings, redis_client: redis.Redis) -> RateBudget:
    """The app-wide minute budget every organisation of this app (client id) shares."""
    return RateBudget(
        redis_client,
        app_limits(
            settings.XERO_APP_MINUTE_LIMIT,
            minute_seconds=settings.XERO_MINUTE_SECONDS,
            invoice_share=settings.INVOICE_RESERVED_SHARE,
            lease_seconds=max(60.0, settings.XERO_TIMEOUT_SECONDS * 2),
        ),
        prefix=APP_BUDGET_PREFIX,
    )


def identity_client(settings: Settings, session: requests.Session | None = None) -> IdentityClient:
    return IdentityClient.for_urls(
        client_id=settings.XERO_CLIENT_ID,
        client_secret=settings.XERO_CLIENT_SECRET,
        identity_url=settings.XERO_IDENTITY_URL,
        login_url=settings.XERO_LOGIN_URL,
        base_url=settings.XERO_BASE_URL,
        timeout=settings.XERO_TIMEOUT_SECONDS,
        session=session,
    )


def build_client(
    settings: Settings,
    *,
    tenant_id: str,
    store: TokenStore,
    redis_client: redis.Redis,
    on_exchange: Callable[[Exchange], None] | None = None,
    session: requests.Session | None = None,
) -> XeroClient:
    """A client for one organisation: tokens from `store`, the shared budgets in Redis (the
    organisation's, and the app's across every organisation)."""
    tokens = TokenManager(
        key=tenant_id,
        store=store,
        identity=identity_client(settings),
        redis_client=redis_client,
        scopes=tuple(settings.XERO_SCOPES.split()),
    )
    return XeroClient(
        api_url=settings.xero_api_url,
        tenant_id=tenant_id,
        tokens=tokens,
        budget=RateBudget(redis_client, budget_limits(settings)),
        timeout=settings.XERO_TIMEOUT_SECONDS,
        session=session,
        on_exchange=on_exchange,
        app_budget=app_budget(settings, redis_client),
        app_key=settings.XERO_CLIENT_ID,
    )
