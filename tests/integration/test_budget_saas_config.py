"""The API source types (google_sheets, anaplan, http) in configs: the budget service takes and
lists them (POST /sync/config, GET /sync/health, whose `source` the Budget sync page shows),
the CLI adds and lists them, and their checks answer 422 / exit 1 without echoing a secret.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from finsync import cli
from finsync.api.main import app
from finsync.budget import config as configs
from tests.integration.api_helpers import bearer, tokens

pytestmark = pytest.mark.integration

CONFIGS = [
    {
        "customer_id": "acme",
        "source_type": "google_sheets",
        "source_config": {
            "conn_id": "acme_google",
            "spreadsheet_id": "1AcmeBudgetSheetFY2026xyz",
            "range": "'FY26 Budget'!A1:H500",
        },
    },
    {
        "customer_id": "globex",
        "source_type": "anaplan",
        "source_config": {
            "conn_id": "globex_anaplan",
            "workspace_id": "8a81b09d5e8c6f27015ea01d8f1b2f3c",
            "model_id": "75A40874E6B64FA3AE0743278996850F",
            "export_id": "116000000007",
            "timeout_seconds": 1800,
        },
        "frequency": "every_4_hours",
        "default_currency": "AUD",
    },
    {
        "customer_id": "initech",
        "source_type": "http",
        "source_config": {
            "conn_id": "initech_http",
            "url": "https://exports.prophix.example/schedules/9/latest?format=csv",
        },
    },
]


def test_the_service_takes_and_lists_the_api_source_types(warehouse, conn):
    admin = bearer(tokens(conn)["admin"])
    with TestClient(app) as client:
        for body in CONFIGS:
            r = client.post("/sync/config", headers=admin, json=body)
            assert r.status_code == 201, r.text
            assert {k: r.json()[k] for k in body} == body
        health = client.get("/sync/health", headers=admin).json()
        secret = "tok-9f8e7d6c5b4a"
        leaky = {
            "customer_id": "hooli",
            "source_type": "http",
            "source_config": {"conn_id": "h", "url": f"https://x.example/b.csv?api_key={secret}"},
        }
        refused = client.post("/sync/config", headers=admin, json=leaky)
        unknown = client.post(
            "/sync/config",
            headers=admin,
            json={"customer_id": "hooli", "source_type": "ftp", "source_config": {"path": "/"}},
        )
        missing = client.post(
            "/sync/config",
            headers=admin,
            json={
                "customer_id": "hooli",
                "source_type": "anaplan",
                "source_config": {"conn_id": "a", "workspace_id": "w", "model_id": "m"},
            },
        )

    assert {c["customer_id"]: c["source"] for c in health["customers"]} == {
        "acme": "google_sheets (acme_google):1AcmeBudgetSheetFY2026xyz 'FY26 Budget'!A1:H500",
        "globex": "anaplan (globex_anaplan):8a81b09d5e8c6f27015ea01d8f1b2f3c/"
        "75A40874E6B64FA3AE0743278996850F/116000000007",
        "initech": "http (initech_http):https://exports.prophix.example/schedules/9/latest",
    }
    assert refused.status_code == 422 and secret not in refused.text
    assert "url must not carry credentials in its query (found: api_key)" in refused.text
    assert unknown.status_code == 422
    assert missing.status_code == 422 and "export_id is required" in missing.text


def test_the_cli_adds_and_lists_the_api_source_types(warehouse, conn, capsys):
    for body in CONFIGS:
        args = [
            "customers",
            "add",
            body["customer_id"],
            "--source-type",
            body["source_type"],
            "--source-config",
            json.dumps(body["source_config"]),
        ]
        assert cli.main(args) == 0, capsys.readouterr().err
    added = capsys.readouterr().out
    assert "customer acme: google_sheets source saved as config" in added
    assert "customer initech: http source saved as config" in added

    assert cli.main(["customers", "list"]) == 0
    listed = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "google_sheets" in listed["acme"]
    assert listed["acme"].endswith("1AcmeBudgetSheetFY2026xyz 'FY26 Budget'!A1:H500")
    assert listed["globex"].endswith(
        "8a81b09d5e8c6f27015ea01d8f1b2f3c/75A40874E6B64FA3AE0743278996850F/116000000007"
    )
    assert listed["initech"].endswith("https://exports.prophix.example/schedules/9/latest")

    bad = ["customers", "add", "hooli", "--source-type", "google_sheets", "--source-config"]
    url = '{"conn_id": "g", "spreadsheet_id": "https://docs.google.com/spreadsheets/d/1Ab/edit", "range": "B"}'
    assert cli.main([*bad, url]) == 1
    assert "spreadsheet_id must be the id in the sheet's address" in capsys.readouterr().err
    assert configs.load(conn, customer_id="hooli") == []


def test_the_budget_sync_page_offers_every_source_type_with_its_required_keys():
    """The onboarding form's Source list and its required fields follow the registry (the
    browser test drives the form itself: test_budget_ui.py)."""
    import re
    from pathlib import Path

    from finsync.api import static
    from finsync.budget.sources.registry import REQUIRED_KEYS, SOURCE_TYPES

    page = (Path(static.__path__[0]) / "budget_sync.html").read_text()
    select = page.split('id="ob-source-type"')[1].split("</select>")[0]
    offered = re.findall(r'<option value="([a-z_0-9]+)">', select)
    needed_js = page.split("const needed = {")[1].split("}[type]")[0]
    needed = {
        t: tuple(re.findall(r'"([a-z_]+)"', keys))
        for t, keys in re.findall(r"(\w+): \[([^\]]*)\]", needed_js)
    }

    assert sorted(offered) == sorted(SOURCE_TYPES)
    for source_type in ("google_sheets", "anaplan", "http"):
        assert needed[source_type] == REQUIRED_KEYS[source_type]
        labels = re.findall(rf'<label data-source="[^"]*\b{source_type}\b[^"]*">', page)
        assert len(labels) == len(REQUIRED_KEYS[source_type])  # a field per required key
