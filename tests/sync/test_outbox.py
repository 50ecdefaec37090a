from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from xerosync.models import Connection, Customer, LinkStatus, Product, XeroLink
from xerosync.sync import outbox

outbox.install()


def link_of(session: Session, local_id: int, kind: str = "contact") -> XeroLink:
    return session.scalars(
        select(XeroLink).where(XeroLink.local_id == local_id, XeroLink.kind == kind)
    ).one()


def test_saving_a_new_customer_marks_it_pending(
    session: Session, connection_row: Connection
) -> None:
    customer = Customer(connection_id=connection_row.id, name="Acme")
    session.add(customer)
    session.commit()
    link = link_of(session, customer.id)
    assert link.status == LinkStatus.PENDING.value
    assert link.fingerprint == outbox.desired_fingerprint(customer)
    assert link.xero_id is None


def test_an_unchanged_save_leaves_a_synced_record_alone(
    session: Session, connection_row: Connection
) -> None:
    product = Product(connection_id=connection_row.id, code="W", name="Widget")
    session.add(product)
    session.commit()
    link = link_of(session, product.id, "item")
    outbox.mark_in_sync(link, "item-1", outbox.desired_fingerprint(product))
    session.commit()

    product.is_obsolete = True  # not a pushed field
    session.commit()
    assert link_of(session, product.id, "item").status == LinkStatus.SYNCED.value

    product.sales_unit_price = Decimal("9.99")
    session.commit()
    assert link_of(session, product.id, "item").status == LinkStatus.PENDING.value

    product.sales_unit_price = None  # back to what Xero holds
    session.commit()
    assert link_of(session, product.id, "item").status == LinkStatus.SYNCED.value


def test_a_rejected_record_waits_until_it_changes(
    session: Session, connection_row: Connection
) -> None:
    customer = Customer(connection_id=connection_row.id, name="Acme")
    session.add(customer)
    session.commit()
    link = link_of(session, customer.id)
    link.status = LinkStatus.ERROR.value
    link.last_error = "EmailAddress: Email address must be valid."
    session.commit()

    customer.is_active = True  # no change to a pushed field's value
    session.commit()
    assert link_of(session, customer.id).status == LinkStatus.ERROR.value

    customer.email = "fixed@acme.test"
    session.commit()
    assert link_of(session, customer.id).status == LinkStatus.PENDING.value
