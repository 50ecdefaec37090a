"""The `xerosync` command.

Each sub-command lives in its own module exposing `register(subparsers)`; this module only
collects them, so adding a command never means editing a central switch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xerosync.settings import SettingsError

COMMAND_MODULES = (
    "xerosync.cli.db",
    "xerosync.cli.services",
    "xerosync.cli.connect",
    "xerosync.cli.ops",
    "xerosync.cli.demo",
    "xerosync.sandbox.cli",
)


class CommandError(Exception):
    """A command could not do what was asked; the message says what and where."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xerosync", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except SettingsError as exc:  # a command module read the settings on import
        print(f"xerosync: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        _observe(args.command)
        result = args.handler(args)
    except (SettingsError, CommandError) as exc:
        print(f"xerosync {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def _observe(command: str) -> None:
    """Logging (with redaction) and Sentry for commands that talk to Xero."""
    if command in ("sandbox", "worker", "beat", "flower"):
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
