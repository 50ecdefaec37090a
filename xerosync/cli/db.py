"""`xerosync db upgrade|downgrade|current`: the schema, from Alembic's migrations."""

from __future__ import annotations

import argparse
from typing import Any

from xerosync import migrate
from xerosync.settings import get_settings


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "db", help="create or migrate the database schema"
    )
    actions = parser.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", help="apply migrations (to the newest by default)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_upgrade)
    down = actions.add_parser("downgrade", help="undo migrations down to REVISION")
    down.add_argument("revision")
    down.set_defaults(handler=_downgrade)
    actions.add_parser("current", help="show the applied revision").set_defaults(handler=_current)


def _upgrade(args: argparse.Namespace) -> int:
    url = get_settings().DATABASE_URL
    migrate.upgrade(url, args.revision)
    print(f"database at {_safe(url)} is at {args.revision}")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    migrate.downgrade(get_settings().DATABASE_URL, args.revision)
    return 0


def _current(_args: argparse.Namespace) -> int:
    migrate.current(get_settings().DATABASE_URL)
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
