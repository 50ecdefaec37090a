"""The Xero client's tests get a Redis database of their own.

Every suite flushes its database around each test; when several suites run at once on one
machine (other packages' integration tests), a shared DB number lets one suite wipe another's
tokens mid-test. TEST_XERO_REDIS_DB (default 12) keeps these apart from TEST_REDIS_DB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.fixtures.redis import DBS_PER_WORKER, XDIST_WORKER, clean_redis_db
from tests.xero.budgets import Clock

XERO_REDIS_DB = int(os.environ.get("TEST_XERO_REDIS_DB", "12")) - DBS_PER_WORKER * XDIST_WORKER


@pytest.fixture
def redis_url() -> Iterator[str]:
    with clean_redis_db(XERO_REDIS_DB) as url:
        yield url


@pytest.fixture(params=["fakeredis", "redis"])
def budget_redis(request: pytest.FixtureRequest) -> redis.Redis:
    """The same scripts on fakeredis (with Lua) and on the real server."""
    name = "fake_redis" if request.param == "fakeredis" else "real_redis"
    client: redis.Redis = request.getfixturevalue(name)
    return client


@pytest.fixture
def clock() -> Clock:
    return Clock()
