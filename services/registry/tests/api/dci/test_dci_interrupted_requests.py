"""An asynchronous request whose processing was lost (the process stopped after the ACK) does not
stay ``pdng`` for ever: the sweep that runs beside the notification sender (at its start, then
periodically) closes requests pending longer than the timeout as ``rjct`` (err.request.timeout),
and txn/status says so."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from fupin_registry.consumers import build_consumers
from fupin_registry.dci.sweep import InterruptedRequestSweep
from fupin_registry.main import create_app

SYNC_STATUS = "/registry/sync/txn/status"


async def pending_transaction(engine, partner, age: timedelta) -> str:
    transaction_id = uuid.uuid4().hex
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dci_transactions (id, sender_id, message_id, transaction_id,"
                " correlation_id, action, status, reference_ids, total_count, sender_uri,"
                " jurisdiction, created_at, updated_at)"
                " VALUES (:id, :sender, :message, :txn, :correlation, 'search', 'pdng',"
                " ARRAY['r-1'], 1, :uri, '22', now() - CAST(:age AS interval), now())"
            ),
            {
                "id": uuid.uuid4(),
                "sender": partner.sender_id,
                "message": uuid.uuid4().hex,
                "txn": transaction_id,
                "correlation": uuid.uuid4().hex,
                "uri": partner.callback,
                "age": age,
            },
        )
    return transaction_id


async def status_of(engine, transaction_id: str) -> str:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT status FROM dci_transactions WHERE transaction_id = :t"),
                {"t": transaction_id},
            )
        ).scalar_one()


async def test_requests_interrupted_before_a_restart_get_a_final_answer(
    settings, engine, registry, new_partner, dci
):
    partner = await new_partner()
    interrupted = await pending_transaction(engine, partner, timedelta(hours=1))
    in_flight = await pending_transaction(engine, partner, timedelta(seconds=5))

    app = create_app(settings)
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    [sweep] = [job for job in build_consumers(app) if isinstance(job, InterruptedRequestSweep)]
    stop = asyncio.Event()
    running = asyncio.create_task(sweep.run(stop))  # a worker (re)starting
    for _ in range(100):
        if await status_of(engine, interrupted) != "pdng":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await running
    assert await status_of(engine, interrupted) == "rjct"
    assert await status_of(engine, in_flight) == "pdng"  # may still be processed elsewhere

    request = {
        "transaction_id": uuid.uuid4().hex,
        "txnstatus_request": {
            "reference_id": "st-1",
            "txn_type": "search",
            "attribute_type": "transaction_id",
            "attribute_value": interrupted,
        },
    }
    response = await registry.post(
        SYNC_STATUS, json=partner.envelope("txn-status", request), headers=partner.headers()
    )
    assert response.status_code == 200, response.text
    dci.validate_response(SYNC_STATUS, 200, response.json())
    status = response.json()["message"]["txnstatus_response"]["txn_status"]
    assert status["transaction_id"] == interrupted
    [item] = status["search_response"]
    assert item["reference_id"] == "r-1" and item["status"] == "rjct"
    assert item["status_reason_message"].startswith("err.request.timeout")
