import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xerosync.models import Connection, LinkKind, LinkStatus, SyncCursor, XeroLink, XeroWrite


def test_links_are_unique_per_record_and_per_xero_id(
    session: Session, connection_row: Connection
) -> None:
    session.add(XeroLink(connection_id=connection_row.id, kind=LinkKind.CONTACT, local_id=1))
    session.add(XeroLink(connection_id=connection_row.id, kind=LinkKind.CONTACT, local_id=2))
    session.commit()
    assert session.scalars(select(XeroLink.status)).all() == [LinkStatus.PENDING.value] * 2

    session.add(XeroLink(connection_id=connection_row.id, kind=LinkKind.CONTACT, local_id=1))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()

    a, b = session.scalars(select(XeroLink).order_by(XeroLink.local_id)).all()
    a.xero_id = b.xero_id = "same-xero-id"
    with pytest.raises(IntegrityError):
        session.commit()


def test_the_same_record_can_link_to_two_organisations(session: Session) -> None:
    one = Connection(tenant_id="t-1", tenant_name="One")
    two = Connection(tenant_id="t-2", tenant_name="Two")
    session.add_all([one, two])
    session.flush()
    for conn in (one, two):
        session.add(XeroLink(connection_id=conn.id, kind=LinkKind.ITEM, local_id=7, xero_id="x-7"))
    session.commit()
    assert session.query(XeroLink).count() == 2


def test_cursors_are_per_connection_and_stream(
    session: Session, connection_row: Connection
) -> None:
    session.add(SyncCursor(connection_id=connection_row.id, stream="contacts"))
    session.add(SyncCursor(connection_id=connection_row.id, stream="invoices"))
    session.commit()
    session.add(SyncCursor(connection_id=connection_row.id, stream="contacts"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_audit_rows_keep_json(session: Session) -> None:
    session.add(
        XeroWrite(
            tenant_id="t",
            method="POST",
            path="/Contacts",
            kind="contact",
            local_ids=[1, 2],
            request_body={"Contacts": [{"Name": "Ääkkönen"}]},
            outcome="ok",
        )
    )
    session.commit()
    session.expunge_all()
    row = session.scalars(select(XeroWrite)).one()
    assert row.local_ids == [1, 2]
    assert row.request_body == {"Contacts": [{"Name": "Ääkkönen"}]}
