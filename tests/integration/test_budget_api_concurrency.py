"""The budget service under concurrent load: a real uvicorn process on loopback, a small
connection pool (FINSYNC_API_POOL_MAX), httpx.AsyncClient firing requests at once, and real
PostgreSQL. No budget is ever over-reserved, a retried request books once, and a sync running
in the middle of it all loses no reservation."""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
import time
import uuid
from decimal import Decimal as D
from pathlib import Path

import httpx
import psycopg
import pytest

from finsync.budget import config as configs
from finsync.budget.sync import sync_customer
from tests.conftest import fetch
from tests.integration.api_helpers import (
    bearer,
    scratch_database,
    seed_customer,
    tokens,
    uvicorn_server,
)

pytestmark = pytest.mark.integration
POOL_MAX = 6  # far fewer connections than concurrent requests


@pytest.fixture(scope="module")
def service(template_db, tmp_path_factory):
    """One database and one uvicorn process for the module; tests keep to their own customer."""
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    # The sync test's gate imports Great Expectations (seconds): done while uvicorn starts.
    warm = threading.Thread(target=importlib.import_module, args=("great_expectations",))
    warm.start()
    with scratch_database(template_db) as conninfo:
        # the server finds the warehouse by DSN (skips importing Airflow to read a connection)
        env = {"FINSYNC_API_POOL_MAX": str(POOL_MAX), "FINSYNC_WAREHOUSE_DSN": conninfo}
        with uvicorn_server(log, **env) as url:
            warm.join()
            with psycopg.connect(conninfo, autocommit=True) as conn:
                token = tokens(conn)["admin"]
            # the first request opens the pool (and resolves the warehouse connection)
            assert (
                httpx.get(f"{url}/fx/rates", headers=bearer(token), timeout=60).status_code == 200
            )
            yield url, conninfo
        # nothing the server did went wrong quietly
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture
def conn(service):
    """Overrides the per-test database of tests/conftest.py: this module shares one."""
    with psycopg.connect(service[1], autocommit=True) as c:
        yield c


def customer(conn, budgets, frequency="daily"):
    """A new customer with `budgets`; returns (customer_id, its token)."""
    cid = f"c{uuid.uuid4().hex[:8]}"
    seed_customer(conn, cid, budgets=budgets, frequency=frequency)
    return cid, tokens(conn, cid)[cid]


def figures(conn, cid):
    util = fetch(
        conn,
        "select b.budget_id, b.budgeted_amount, u.committed_amount, u.reserved_amount "
        "from budget b join budget_utilization u using (budget_id) where b.customer_id = %s",
        (cid,),
    )
    booked = fetch(
        conn,
        "select coalesce(sum(amount), 0) as s, count(*) as n from budget_reservation "
        "where customer_id = %s and status = 'reserved'",
        (cid,),
    )[0]
    logged = fetch(
        conn,
        "select coalesce(sum(l.reserved_delta), 0) as s, count(*) as n "
        "from budget_utilization_log l join budget b using (budget_id) where b.customer_id = %s",
        (cid,),
    )[0]
    return util, booked, logged


async def _reserve(client, token, amount, key=None, **target):
    body = {"department": "Marketing", "date": "2026-01-15", "amount": amount, **target}
    headers = {**bearer(token), "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/budget/reserve", json=body, headers=headers)


def _client(url):
    return httpx.AsyncClient(
        base_url=url,
        timeout=120,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=50),
    )


def test_concurrent_reservations_never_over_reserve(service, conn):
    url, _ = service
    cid, token = customer(conn, [("Marketing", None, "FY2026-M01", "1000.00")])

    async def main():
        async with _client(url) as client:
            return await asyncio.gather(*(_reserve(client, token, "7.00") for _ in range(200)))

    responses = asyncio.run(main())
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}, {r.status_code: r.text for r in responses}
    ok = codes.count(201)
    assert ok == 142 and codes.count(409) == 58  # 142 x 7 = 994; 7 more would be 1001
    (util,), booked, logged = figures(conn, cid)
    assert util["reserved_amount"] == 7 * ok <= util["budgeted_amount"]
    assert util["committed_amount"] == 0
    assert booked == {"s": D(7 * ok), "n": ok}
    assert logged == {"s": D(7 * ok), "n": ok}
    ids = {r.json()["reservation_id"] for r in responses if r.status_code == 201}
    assert len(ids) == ok
    refused = next(r for r in responses if r.status_code == 409).json()["detail"]
    assert refused["requested"] == 7.0 and refused["available"] < 7


def test_concurrent_retries_with_one_key_book_once(service, conn):
    url, _ = service
    cid, token = customer(conn, [("Marketing", None, "FY2026-M01", "1000.00")])
    key = uuid.uuid4().hex

    async def main():
        async with _client(url) as client:
            return await asyncio.gather(*(_reserve(client, token, "25.00", key) for _ in range(50)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses]
    assert len({r.json()["reservation_id"] for r in responses}) == 1
    assert all(r.json() == responses[0].json() for r in responses)  # the first outcome, again
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert replayed.count("true") == 49 and replayed.count(None) == 1
    (util,), booked, logged = figures(conn, cid)
    assert util["reserved_amount"] == D(25)
    assert booked == {"s": D(25), "n": 1} and logged == {"s": D(25), "n": 1}


FILE = """Cost Centre,Account,Period,Budget Amount,Currency
Marketing,,Jan 2026,{marketing},USD
IT,Cloud,Jan 2026,{it},USD
Sales,Travel,Jan 2026,{sales},USD
"""


def _drop(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    old = time.time() - 120  # settled long ago
    os.utime(path, (old, old))


def test_a_sync_during_reservations_loses_none_of_them(service, conn, tmp_path):
    url, conninfo = service
    cid, token = customer(conn, [])
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    config_id = configs.add(
        conn, customer_id=cid, source_type="local", source_config={"path": str(inbox)}
    )
    conn.execute(
        "update budget_data_source_config set settle_seconds = 0 where config_id = %s",
        (config_id,),
    )
    (cfg,) = configs.load(conn, config_id=config_id)
    _drop(inbox, "budget_v1.csv", FILE.format(marketing="350.00", it="100.00", sales="200.00"))
    first = sync_customer(conn, cfg, work_dir=work)
    assert first.status == "success", first.message
    budget_id = fetch(
        conn,
        "select budget_id from budget where customer_id = %s and department = 'Marketing'",
        (cid,),
    )[0]["budget_id"]
    _drop(inbox, "budget_v2.csv", FILE.format(marketing="3500.00", it="150.00", sales="250.00"))

    def second_sync():
        with psycopg.connect(conninfo, autocommit=True) as c:
            (fresh,) = configs.load(c, config_id=config_id)
            return sync_customer(c, fresh, work_dir=work)

    async def main():
        codes: list[int] = []
        during = 0
        async with _client(url) as client:
            sync = asyncio.create_task(asyncio.to_thread(second_sync))

            async def worker():
                nonlocal during
                after = 0
                while after < 15:  # keep reserving through the sync, then a little longer
                    running = not sync.done()
                    r = await _reserve(client, token, "7.00")
                    assert r.status_code in (201, 409), r.text
                    codes.append(r.status_code)
                    if running and not sync.done():
                        during += 1
                    if sync.done():
                        after += 1

            await asyncio.gather(*(worker() for _ in range(16)))
            return await sync, codes, during

    outcome, codes, during = asyncio.run(main())
    assert outcome.status == "success", outcome.message
    assert outcome.counts["updated"] == 3 and outcome.counts["created"] == 0
    assert during > 0  # reservations really ran while the sync did
    ok = codes.count(201)
    assert ok > 50  # beyond the old 350: the file's new amount was used
    (util,), booked, logged = figures(conn, cid)
    assert util["budget_id"] == budget_id  # the same budget row, updated in place
    assert util["reserved_amount"] == 7 * ok <= util["budgeted_amount"] == D("3500.00")
    assert util["committed_amount"] == 0
    assert booked == {"s": D(7 * ok), "n": ok} and logged == {"s": D(7 * ok), "n": ok}
    amounts = fetch(
        conn,
        "select department, budgeted_amount from budget where customer_id = %s "
        "and deleted_at is null order by department",
        (cid,),
    )
    assert [(a["department"], a["budgeted_amount"]) for a in amounts] == [
        ("IT", D("150.00")),
        ("Marketing", D("3500.00")),
        ("Sales", D("250.00")),
    ]
    untouched = fetch(
        conn,
        "select count(*) as n from budget_utilization u join budget b using (budget_id) "
        "where b.customer_id = %s and b.department <> 'Marketing'",
        (cid,),
    )
    assert untouched == [{"n": 0}]  # the sync wrote no utilisation, anywhere


def test_concurrent_reservations_within_a_tolerance_warn_exactly_when_over(service, conn):
    """10 % tolerance on 1000: 73 reservations of 15.00 fit (1095). Each accepted one says
    'over budget' exactly when it took the budget below zero, whatever ran beside it."""
    url, _ = service
    cid, token = customer(conn, [("Marketing", None, "FY2026-M01", "1000.00")])
    conn.execute("insert into budget_customer_policy values (%s, 'tolerance', 10)", (cid,))

    async def main():
        async with _client(url) as client:
            return await asyncio.gather(*(_reserve(client, token, "15.00") for _ in range(100)))

    responses = asyncio.run(main())
    accepted = [r.json() for r in responses if r.status_code == 201]
    assert len(accepted) == 73 and [r.status_code for r in responses].count(409) == 27
    for body in accepted:
        over = [w for w in body["warnings"] if w.startswith("over budget by")]
        assert bool(over) == (body["available"] < 0), body
        if over:  # by how much the budget is now exceeded
            assert over == [
                f"over budget by {-body['available']:.2f} (within the customer's 10.00% tolerance)"
            ]
    (util,), booked, _ = figures(conn, cid)
    assert util["reserved_amount"] == D("1095.00") == booked["s"]
