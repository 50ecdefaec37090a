"""The CRM's side, as the README shows it: the example runs end to end through the real broker,
a real worker and the sandbox; a broker that is down never fails or loses the CRM's save."""

from __future__ import annotations

import importlib.util
import logging
import re
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from celery import Celery

from tests.fixtures.xerosync import XerosyncEnv
from xerosync import crm
from xerosync.models import Customer, Order, OrderLine, OrderStatus
from xerosync.sync import jobs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "crm_integration.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crm_integration", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_the_example_as_it_is_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## For CRM developers", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "the README's CRM section has a python block"
    assert block.group(1).strip() in EXAMPLE.read_text(), (
        "README's CRM example differs from examples/crm_integration.py: copy the file's main()"
    )


@pytest.mark.both_brokers
def test_the_example_runs_and_every_record_ends_synced(
    xerosync_env: XerosyncEnv, celery_worker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _example().main() == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].split()[0] for line in printed] == ["synced"] * 3, printed
    invoices = [
        i
        for i in xerosync_env.sandbox.control.records("Invoices")
        if i.get("Reference") == "PO-1187"
    ]
    assert len(invoices) == 1 and invoices[0]["Status"] == "DRAFT"
    assert invoices[0]["Type"] == "ACCREC"


def test_an_organisation_is_found_by_name_and_a_wrong_name_lists_the_known_ones(
    xerosync_env: XerosyncEnv,
) -> None:
    with crm.session() as db:
        assert crm.connection_id(db) == xerosync_env.connection_id
        name = db.get_one(crm.Connection, xerosync_env.connection_id).tenant_name
        assert crm.connection_id(db, name.upper()) == xerosync_env.connection_id
        with pytest.raises(crm.UnknownOrganisation, match=r"no organisation named 'Nope'.*#"):
            crm.connection_id(db, "Nope")


def _broker_down(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None


def test_with_the_broker_down_the_save_is_kept_and_the_pass_syncs_it(
    xerosync_env: XerosyncEnv,
    celery_app: Celery,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = xerosync_env
    with crm.session() as db:
        with db.begin():
            customer = Customer(connection_id=env.connection_id, name="Offline Outfitters")
            db.add(customer)
        with db.begin():
            order = Order(connection_id=env.connection_id, customer_id=customer.id)
            order.lines.append(
                OrderLine(description="Call-out", quantity=Decimal("1"), unit_price=Decimal("10"))
            )
            db.add(order)
        with db.begin():
            order.status = OrderStatus.CONFIRMED.value

        _broker_down(celery_app, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="xerosync.crm"):
            assert crm.customer_saved(customer.id) is False
            assert crm.order_confirmed(order.id) is False
        assert "the routine pass syncs it" in caplog.text
        assert crm.sync_state(db, customer).state == "pending"
        monkeypatch.undo()
        celery_app._pool = None  # type: ignore[attr-defined]
        celery_app.amqp._producer_pool = None

        result = jobs.routine_pass_for(env.connection_id, settings=env.settings)
        assert result.status == "ok", result
        assert crm.sync_state(db, customer).state == "synced"
        order_state = crm.sync_state(db, order)
        assert order_state.state == "synced" and order_state.xero_id, order_state
