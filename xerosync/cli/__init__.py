"""The `xerosync` command.

Each sub-command lives in its own module exposing `register(subparsers)`; this module only
collects them, so adding a command never means editing a central switch.

It is also the one place where a failure a person can fix becomes one line: an unreachable
database, Redis or broker, a schema not migrated, a TOKEN_ENCRYPTION_KEY that cannot open the
stored tokens, a bad setting. `FAILURES` maps the exception's type to what to say and the exit
code (2: fix something first; 3: a service did not answer, try again once it does); commands
never catch these themselves. `--traceback` (or LOG_LEVEL=DEBUG) shows the traceback as well.
Anything not in the map is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from xerosync.settings import SettingsError

COMMAND_MODULES = (
    "xerosync.cli.db",
    "xerosync.cli.services",
    "xerosync.cli.connect",
    "xerosync.cli.status",
    "xerosync.cli.ops",
    "xerosync.cli.demo",
    "xerosync.cli.webhooks",
    "xerosync.sandbox.cli",
)


class CommandError(Exception):
    """A command could not do what was asked; the message says what and where."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xerosync", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--traceback", action="store_true", help="show the traceback of a failure, too"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "xerosync"
    try:
        parser = build_parser()  # a command module may read the settings on import
        args = parser.parse_args(argv)
        command = f"xerosync {args.command}"
        _observe(args.command)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        failure = explain(exc)
        if failure is None:
            raise  # not a failure a person can fix by reading a line: a bug, keep it whole
        if "--traceback" in argv or _debug():
            traceback.print_exc()
        message, code = failure
        print(f"{command}: {message}", file=sys.stderr)
        return code


def _debug() -> bool:
    """LOG_LEVEL=DEBUG, from the environment or .env (when the settings load at all)."""
    if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG":
        return True
    try:
        from xerosync.settings import get_settings

        return get_settings().LOG_LEVEL == "DEBUG"
    except Exception:
        return False


# -- failures a person can fix ----------------------------------------------------------------

FIX_FIRST = 2
"""Exit code: the setup is wrong (setting, schema, key); running again will not help."""
UNREACHABLE = 3
"""Exit code: a service did not answer; run again once it does."""

Explainer = Callable[[BaseException], "tuple[str, int] | None"]


def _safe_url(name: str) -> str:
    """A setting's URL without its password, or its name when the settings do not load."""
    try:
        from sqlalchemy.engine import make_url

        from xerosync.settings import get_settings

        url = str(getattr(get_settings(), name))
        if url.startswith(("redis", "rediss", "amqp", "pyamqp")):
            from kombu.utils.url import maybe_sanitize_url

            return str(maybe_sanitize_url(url))
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_MISSING_SCHEMA = ("no such table", "no such column", "undefinedtable", "undefinedcolumn")


def _database(exc: BaseException) -> tuple[str, int] | None:
    from sqlalchemy.exc import DBAPIError, OperationalError

    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig if exc.orig is not None else exc
    detail = _first_line(orig)
    words = f"{type(orig).__name__} {detail}".lower()
    if any(marker in words for marker in _MISSING_SCHEMA) or (
        "does not exist" in words and ("relation" in words or "column" in words)
    ):
        return (
            f"the database at {_safe_url('DATABASE_URL')} is not at xerosync's schema "
            f"({detail}): run `xerosync db upgrade`",
            FIX_FIRST,
        )
    if isinstance(exc, OperationalError):
        return (
            f"cannot reach the database at {_safe_url('DATABASE_URL')} ({detail}): check "
            "DATABASE_URL and that the database server is running",
            UNREACHABLE,
        )
    return None  # any other database error (a constraint, a bad query) is a bug


def _redis(exc: BaseException) -> tuple[str, int] | None:
    import redis

    if isinstance(exc, redis.AuthenticationError):
        return (
            f"Redis refused the credentials in REDIS_URL ({_first_line(exc)})",
            FIX_FIRST,
        )
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return (
            f"cannot reach Redis at {_safe_url('REDIS_URL')} ({_first_line(exc)}): check "
            "REDIS_URL and that Redis is running",
            UNREACHABLE,
        )
    return None


def _broker(exc: BaseException) -> tuple[str, int] | None:
    from kombu.exceptions import OperationalError

    if isinstance(exc, OperationalError):
        return (
            f"cannot reach the broker at {_safe_url('CELERY_BROKER_URL')} "
            f"({_first_line(exc)}): check CELERY_BROKER_URL (REDIS_URL by default) and that "
            "it is running",
            UNREACHABLE,
        )
    return None


def _key(exc: BaseException) -> tuple[str, int] | None:
    from cryptography.fernet import InvalidToken

    from xerosync.xero.crypto import TokenCipherError

    if isinstance(exc, TokenCipherError):
        return str(exc), FIX_FIRST
    if isinstance(exc, InvalidToken):
        return (
            "stored tokens cannot be decrypted with TOKEN_ENCRYPTION_KEY (wrong key, or the "
            "data was altered); restore the previous key or connect the organisation again",
            FIX_FIRST,
        )
    return None


def _plain(exc: BaseException) -> tuple[str, int] | None:
    from xerosync.connections import OrganisationError

    if isinstance(exc, SettingsError):
        return f"{exc} (set it in the environment or in .env)", FIX_FIRST
    if isinstance(exc, CommandError | OrganisationError):
        return str(exc), FIX_FIRST
    return None


FAILURES: tuple[Explainer, ...] = (_plain, _database, _redis, _broker, _key)
"""Each says what an exception means to the person running the command, or None."""


def explain(exc: BaseException) -> tuple[str, int] | None:
    """(one line, exit code) for a failure a person can fix, or None for a bug."""
    for explainer in FAILURES:
        found = explainer(exc)
        if found is not None:
            return found
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        return explain(cause)  # e.g. a Celery or SQLAlchemy wrapper around the real failure
    return None


def _observe(command: str) -> None:
    """Logging (with redaction) and Sentry for commands that talk to Xero."""
    if command in ("sandbox", "worker", "beat", "flower", "webhooks"):
        return  # servers configure their own
    from xerosync.observability import configure_logging, init_sentry
    from xerosync.settings import get_settings, warn_about_settings

    settings = get_settings()
    # A command prints its own results; the log shows warnings unless LOG_LEVEL says DEBUG.
    configure_logging(settings, level="DEBUG" if settings.LOG_LEVEL == "DEBUG" else "WARNING")
    init_sentry(settings)
    if command != "connect":  # connect says it in its own words, once, about what it got
        warn_about_settings(settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
