"""The database moves `row_version` on every UPDATE, ORM or not, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from xerosync.models import Connection, Customer, Product


def version(session: Session, table: str, row_id: int) -> int:
    return int(
        session.execute(
            text(f"SELECT row_version FROM {table} WHERE id = :id"), {"id": row_id}
        ).scalar_one()
    )


def test_a_new_row_starts_at_one(session: Session, connection_row: Connection) -> None:
    customer = Customer(connection_id=connection_row.id, name="Acme")
    session.add(customer)
    session.commit()
    assert customer.row_version == 1


def test_a_raw_update_moves_the_version(session: Session, connection_row: Connection) -> None:
    product = Product(connection_id=connection_row.id, code="W", name="Widget")
    customer = Customer(connection_id=connection_row.id, name="Acme")
    session.add_all([product, customer])
    session.commit()
    for table, row_id in (("products", product.id), ("customers", customer.id)):
        session.execute(text(f"UPDATE {table} SET name = 'Other' WHERE id = :id"), {"id": row_id})
        session.execute(text(f"UPDATE {table} SET name = 'Third' WHERE id = :id"), {"id": row_id})
        session.commit()
        assert version(session, table, row_id) == 3


def test_an_orm_update_moves_it_and_the_orm_sees_it(
    session: Session, connection_row: Connection
) -> None:
    customer = Customer(connection_id=connection_row.id, name="Acme")
    session.add(customer)
    session.commit()
    customer.email = "a@acme.test"
    session.commit()
    assert customer.row_version == 2  # expired by the flush, read back


def test_an_update_of_many_rows_moves_each_once(
    session: Session, connection_row: Connection
) -> None:
    rows = [Customer(connection_id=connection_row.id, name=f"C{i}") for i in range(3)]
    session.add_all(rows)
    session.commit()
    session.execute(text("UPDATE customers SET city = 'Perth'"))
    session.commit()
    assert {version(session, "customers", r.id) for r in rows} == {2}
