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

from tests.fixtures.redis import test_redis_url

XERO_REDIS_DB = int(os.environ.get("TEST_XERO_REDIS_DB", "12"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = test_redis_url(XERO_REDIS_DB)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {url}: `make test` starts one; see README, Testing")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
