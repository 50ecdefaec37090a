"""Xero's official Python SDK (xero-python) against the sandbox: only the host changes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from xero_python.accounting import AccountingApi, Contact, Contacts, Invoice, Invoices, LineItem
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import RateLimitException

from tests.fixtures.sandbox import Sandbox


@pytest.fixture
def sdk(sandbox: Sandbox) -> AccountingApi:
    tokens = sandbox.control.authorize()
    stored: dict[str, Any] = {**tokens.raw, "expires_at": time.time() + tokens.expires_in}
    client = ApiClient(
        Configuration(
            oauth2_token=OAuth2Token(client_id="sandbox-client", client_secret="sandbox-secret")
        ),
        pool_threads=1,
    )

    @client.oauth2_token_getter
    def get_token() -> dict[str, Any]:
        return stored

    @client.oauth2_token_saver
    def save_token(token: dict[str, Any]) -> None:
        stored.update(token)

    return AccountingApi(client, base_url=sandbox.api_url)


def test_sdk_contacts_paging_draft_invoice_and_429(sdk: AccountingApi, sandbox: Sandbox) -> None:
    tenant = sandbox.tenant_id
    created = sdk.create_contacts(
        tenant,
        contacts=Contacts(
            contacts=[
                Contact(name=f"SDK Customer {i}", email_address=f"c{i}@sdk.example")
                for i in range(7)
            ]
        ),
        summarize_errors=False,
    )
    assert [c.status_attribute_string for c in created.contacts] == ["OK"] * 7

    seen: list[str] = []
    page = 1
    while True:
        result = sdk.get_contacts(tenant, page=page, page_size=5, order="Name ASC")
        seen.extend(c.name for c in result.contacts)
        if len(result.contacts) < 5:
            break
        page += 1
    assert page >= 3 and {f"SDK Customer {i}" for i in range(7)} <= set(seen)
    assert result.pagination.item_count == len(seen)

    contact_id = created.contacts[0].contact_id
    invoices = sdk.create_invoices(
        tenant,
        invoices=Invoices(
            invoices=[
                Invoice(
                    type="ACCREC",
                    contact=Contact(contact_id=contact_id),
                    status="DRAFT",
                    line_items=[
                        LineItem(
                            description="Consulting",
                            quantity=2.0,
                            unit_amount=150.0,
                            account_code="200",
                            tax_type="OUTPUT",
                        )
                    ],
                )
            ]
        ),
    )
    invoice = invoices.invoices[0]
    assert invoice.status == "DRAFT" and invoice.invoice_number.startswith("INV-")
    back = sdk.get_invoice(tenant, invoice.invoice_id).invoices[0]
    assert back.total == 330.0 and back.line_items[0].description == "Consulting"
    assert back.contact.contact_id == contact_id

    # A 429 surfaces as the SDK's RateLimitException. (On GET/PUT, urllib3 underneath the SDK
    # honours Retry-After by sleeping and retrying up to 3 times first; POST is not retried.)
    sandbox.control.config(minute_limit=1, minute_seconds=60)
    with pytest.raises(RateLimitException) as info:
        sdk.update_or_create_contacts(
            tenant, contacts=Contacts(contacts=[Contact(name="Too Many")])
        )
    assert info.value.rate_limit == "minute"
    assert int(info.value.headers["Retry-After"]) >= 1
