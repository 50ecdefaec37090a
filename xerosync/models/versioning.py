"""Row versions kept by the database itself, so writes made around the ORM are seen too.

`customers.row_version` and `products.row_version` start at 1 and a trigger adds 1 on every
UPDATE, whoever makes it: the ORM, raw SQL, another application. A link remembers the version
it last fingerprinted (`XeroLink.seen_version`), so the routine pass re-derives fingerprints
only of rows whose version moved (or that have no link yet) instead of every row.

The same triggers are created by `Base.metadata.create_all` (the listeners below) and by
migration 0007 (`create_sql`/`drop_sql`). SQLite forgets a table's triggers when Alembic's
batch mode copies the table: a later migration that batch-alters `customers` or `products`
must create them again (`create_sql`).
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

VERSIONED_TABLES = ("customers", "products")
PG_FUNCTION = "xerosync_bump_row_version"


def _pg_function() -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $$ "
        "BEGIN NEW.row_version := OLD.row_version + 1; RETURN NEW; END "
        "$$ LANGUAGE plpgsql"
    )


def create_sql(dialect: str, table: str) -> list[str]:
    """The statements that make `table`'s row_version move on every UPDATE."""
    trigger = f"{table}_row_version"
    if dialect == "postgresql":
        return [
            _pg_function(),
            f"DROP TRIGGER IF EXISTS {trigger} ON {table}",
            f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
        ]
    # SQLite has no BEFORE-row assignment: bump after the update, unless the statement set
    # row_version itself (which is also how the trigger's own UPDATE does not fire it again).
    return [
        f"CREATE TRIGGER IF NOT EXISTS {trigger} AFTER UPDATE ON {table} FOR EACH ROW "
        f"WHEN NEW.row_version IS OLD.row_version BEGIN "
        f"UPDATE {table} SET row_version = OLD.row_version + 1 WHERE id = NEW.id; END"
    ]


def drop_sql(dialect: str, table: str) -> list[str]:
    trigger = f"{table}_row_version"
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {trigger} ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {trigger}"]


def keep_row_version(table: Table) -> None:
    """Create `table`'s trigger whenever `create_all` creates the table."""
    for dialect in ("postgresql", "sqlite"):
        for statement in create_sql(dialect, table.name):
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))
