"""Shared fixtures: each lives in tests/fixtures/ and is loaded here as a plugin."""

pytest_plugins = [
    "tests.fixtures.celery",
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.sandbox",
    "tests.fixtures.xerosync",
]
