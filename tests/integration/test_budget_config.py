"""One writer of source configs and mapping versions (finsync.budget.config): the budget
service's /sync/config, the CLI and the sync write the same rows the same way, on real
PostgreSQL through FastAPI's TestClient."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from finsync import cli
from finsync.api.main import app
from finsync.budget import config as configs
from tests.conftest import fetch
from tests.integration.api_helpers import bearer, seed_customer, tokens

pytestmark = pytest.mark.integration


@pytest.fixture
def client(warehouse):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def admin(conn):
    seed_customer(conn, "acme")
    return bearer(tokens(conn)["admin"])


def history(conn, config_id):
    return fetch(
        conn,
        "select version, headers, column_mapping, confirmed_by "
        "from budget_column_mapping_history where config_id = %s order by version",
        (config_id,),
    )


def test_a_mapping_set_through_the_api_is_versioned_with_its_history_row(client, conn, admin):
    config_id = fetch(conn, "select config_id from budget_data_source_config")[0]["config_id"]
    first = {"department": "Cost Centre", "fiscal_period": "Period", "budgeted_amount": "Plan"}
    r = client.patch(f"/sync/config/{config_id}", headers=admin, json={"column_mapping": first})
    assert r.status_code == 200, r.text
    assert (r.json()["column_mapping"], r.json()["column_mapping_version"]) == (first, 1)
    assert history(conn, config_id) == [
        {
            "version": 1,
            "headers": ["Cost Centre", "Period", "Plan"],
            "column_mapping": first,
            "confirmed_by": "token:admin",
        }
    ]

    # The same mapping again is no new version; other settings change on their own.
    again = client.patch(
        f"/sync/config/{config_id}",
        headers=admin,
        json={"column_mapping": first, "frequency": "hourly"},
    ).json()
    assert (again["column_mapping_version"], again["frequency"]) == (1, "hourly")
    assert len(history(conn, config_id)) == 1

    # A sync confirming a mapping and the API continue one sequence of versions.
    configs.save_confirmed_mapping(
        conn, config_id, ["Division", "Month", "Amount"], {"department": "Division"}, "reviewer"
    )
    second = {**first, "sub_category": "Account"}
    r = client.patch(f"/sync/config/{config_id}", headers=admin, json={"column_mapping": second})
    assert r.json()["column_mapping_version"] == 3
    assert [(h["version"], h["confirmed_by"]) for h in history(conn, config_id)] == [
        (1, "token:admin"),
        (2, "reviewer"),
        (3, "token:admin"),
    ]
    row = fetch(
        conn,
        "select column_mapping, column_mapping_version from budget_data_source_config "
        "where config_id = %s",
        (config_id,),
    )[0]
    assert (row["column_mapping"], row["column_mapping_version"]) == (second, 3)


def test_a_mapping_given_when_a_config_is_created_is_version_one(client, conn, admin):
    mapping = {"department": "Dept", "fiscal_period": None, "budgeted_amount": None}
    r = client.post(
        "/sync/config",
        headers=admin,
        json={
            "customer_id": "globex",
            "source_type": "local",
            "source_config": {"path": "/in"},
            "column_mapping": mapping,
            "settle_seconds": 0,
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["column_mapping_version"], created["settle_seconds"]) == (1, 0)
    assert history(conn, created["config_id"]) == [
        {
            "version": 1,
            "headers": ["Dept"],
            "column_mapping": mapping,
            "confirmed_by": "token:admin",
        }
    ]


def test_a_refused_change_writes_nothing(client, conn, admin):
    config_id = fetch(conn, "select config_id from budget_data_source_config")[0]["config_id"]
    r = client.patch(
        f"/sync/config/{config_id}",
        headers=admin,
        json={"column_mapping": {"department": "X"}, "source_config": {"glob": "*.csv"}},
    )
    assert r.status_code == 422 and "path is required" in r.json()["detail"]
    assert history(conn, config_id) == []
    row = fetch(conn, "select column_mapping_version, source_config from budget_data_source_config")
    assert row == [{"column_mapping_version": 0, "source_config": {"path": "/tmp/none"}}]


def test_the_cli_and_the_api_write_the_same_config(client, conn, admin, capsys):
    assert (
        cli.main(
            [
                "customers",
                "add",
                "globex",
                "--source-type",
                "local",
                "--source-config",
                '{"path": "/exports"}',
                "--frequency",
                "every_4_hours",
                "--fiscal-year-start-month",
                "7",
            ]
        )
        == 0
    )
    assert "customer globex: local source saved" in capsys.readouterr().out
    listed = client.get("/sync/config", headers=admin, params={"customer_id": "globex"}).json()
    assert [(c["frequency"], c["fiscal_year_start_month"]) for c in listed] == [
        ("every_4_hours", 7)
    ]
    dup = client.post(
        "/sync/config",
        headers=admin,
        json={"customer_id": "globex", "source_type": "local", "source_config": {"path": "/x"}},
    )
    assert dup.status_code == 409


def test_settle_seconds_in_source_config_wins_over_the_column(conn):
    config_id = configs.add(
        conn,
        customer_id="globex",
        source_type="local",
        source_config={"path": "/exports", "settle_seconds": 5},
    )
    (cfg,) = configs.load(conn, config_id=config_id)
    assert cfg.settle_seconds == 5
    configs.update(conn, config_id, {"source_config": {"path": "/exports"}}, changed_by="test")
    (cfg,) = configs.load(conn, config_id=config_id)
    assert cfg.settle_seconds == 60  # the column's default again
