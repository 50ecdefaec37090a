"""What happened to a record's push, written on its link where an operator can read it."""

from __future__ import annotations

from datetime import timedelta

from xerosync.models import LinkStatus, XeroLink, utcnow
from xerosync.xero.client import ElementResult
from xerosync.xero.errors import XeroError

DUPLICATE_NAME = "already assigned to another contact"
DUPLICATE_NUMBER = "contact number"


def describe(result: ElementResult) -> str:
    """Xero's words about one rejected element, led by the field when it is known."""
    message = "; ".join(result.errors) or "Xero rejected the record without a message"
    return f"{result.field}: {message}" if result.field else message


def reject(link: XeroLink, result: ElementResult) -> None:
    """Xero refused the record: keep its words; no retry until the record changes."""
    link.status = LinkStatus.ERROR.value
    link.last_error = describe(result)
    link.last_error_field = result.field
    link.attempts = (link.attempts or 0) + 1


def fail(link: XeroLink, error: XeroError | str) -> None:
    """A failure that is not Xero's verdict on the record, but stops it for now."""
    link.status = LinkStatus.ERROR.value
    link.last_error = str(error)
    link.last_error_field = None
    link.attempts = (link.attempts or 0) + 1


def defer(link: XeroLink, seconds: float, why: str) -> None:
    """Out of budget for longer than a task may wait: the routine pass picks it up later."""
    link.status = LinkStatus.DEFERRED.value
    link.retry_after = utcnow() + timedelta(seconds=seconds)
    link.last_error = why
    link.last_error_field = None


WAITING_FOR_RECONNECT = "waiting for the organisation to be connected again"


def wait_for_reconnect(link: XeroLink, error: XeroError | str) -> None:
    """The connection needs re-authorisation: the record waits for it, not for an operator.

    Deferred with no time: the routine pass (which runs only for connected organisations)
    and `resume_after_reconnect` take it up as soon as `xerosync connect` has run.
    """
    link.status = LinkStatus.DEFERRED.value
    link.retry_after = None
    link.last_error = f"{WAITING_FOR_RECONNECT}: {error}"
    link.last_error_field = None


def is_waiting_for_reconnect(link: XeroLink) -> bool:
    return link.status == LinkStatus.DEFERRED.value and (link.last_error or "").startswith(
        WAITING_FOR_RECONNECT
    )


def is_duplicate_name(result: ElementResult) -> bool:
    return any(DUPLICATE_NAME in message for message in result.errors)


def is_duplicate_number(result: ElementResult) -> bool:
    """Xero refused a create because our ContactNumber exists: an earlier create landed."""
    return any(
        DUPLICATE_NUMBER in message.lower() and "unique" in message.lower()
        for message in result.errors
    )
