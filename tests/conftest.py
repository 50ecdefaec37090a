"""Shared fixtures: each lives in tests/fixtures/ and is loaded here as a plugin.

Before anything reads the settings, REDIS_URL (and so the broker, which defaults to it)
points at the suite's own Redis database: a task a test sends without a worker fixture (a
notification, `xerosync connect`'s first pass) lands there and is flushed with it, never in
DB 0, which `make run` uses and whose workers would run it.
"""

import os

import pytest

pytest.register_assert_rewrite("tests.fixtures")  # imported below, before pytest loads them

from tests.fixtures.redis import TEST_REDIS_DB, test_redis_url  # noqa: E402

os.environ["REDIS_URL"] = test_redis_url(TEST_REDIS_DB)
os.environ.pop("CELERY_BROKER_URL", None)  # Celery itself would prefer this one

pytest_plugins = [
    "tests.fixtures.celery",
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.sandbox",
    "tests.fixtures.xerosync",
]

SLOW_FIRST = (
    "tests/faults/",
    "tests/paths/",
    "tests/test_flower_screens.py",
    "tests/test_status.py",
)
"""Files of long tests, handed out first: on two xdist workers the suite then ends with short
tests filling in, not with one worker running the fault suite alone."""


def pytest_configure(config: pytest.Config) -> None:
    """Hand files out in collection order (SLOW_FIRST's), as `--no-loadscope-reorder` does.

    pytest-xdist's `--dist loadfile` otherwise reorders files by how many tests each holds,
    which put the fault suite (two long tests) last: the run ended with one worker on it."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(SLOW_FIRST))  # stable otherwise
