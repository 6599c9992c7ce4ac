"""The last write-back where people look: the service's config listing and /sync/health, the
Budget sync page beside each customer (headless Chromium, its API calls answered by the real
service), and the CLI, which also turns write-back on, changes and turns it off through
budget/config.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from finsync import cli
from finsync.api.main import app
from finsync.budget import config as configs
from finsync.budget import writeback as wb
from tests.integration.api_helpers import bearer, tokens
from tests.integration.test_budget_ui import chromium  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.integration


def listed(out: str) -> dict[str, str]:
    """customer -> its `customers list` line."""
    return {line.split()[1]: line for line in out.splitlines()[1:]}


def test_the_cli_sets_write_back_through_config_and_lists_the_last_one(
    warehouse, conn, capsys, tmp_path
):
    add = ["customers", "add", "acme", "--source-type", "local"]
    add += ["--source-config", json.dumps({"path": str(tmp_path)})]
    assert cli.main([*add, "--writeback-folder", "fpa/in", "--writeback-format", "both"]) == 0
    assert "customer acme: local source saved as config" in capsys.readouterr().out
    (cfg,) = configs.load(conn, customer_id="acme")
    assert cfg.writeback == {"folder": "fpa/in", "formats": ["csv", "xlsx"]}

    # A refused setting saves nothing, not even the config it came with.
    bad = ["customers", "add", "hooli", "--source-type", "local", "--source-config"]
    assert cli.main([*bad, json.dumps({"path": "/x"}), "--writeback-folder", "../up"]) == 1
    assert "relative sub-folder" in capsys.readouterr().err
    assert configs.load(conn, customer_id="hooli") == []
    up = ["customers", "add", "up", "--source-type", "upload", "--source-config", "{}"]
    assert cli.main([*up, "--writeback-format", "csv"]) == 1
    assert "a upload source has none" in capsys.readouterr().err
    assert configs.load(conn, customer_id="up") == []

    # Changed: the keys given over the current ones; the frequency one of FREQUENCIES.
    change = ["customers", "writeback", "acme", "--writeback-frequency", "every_4_hours"]
    assert cli.main([*change, "--writeback-format", "xlsx"]) == 0
    assert capsys.readouterr().out.startswith(
        f"customer acme: write-back of config {cfg.config_id}"
    )
    (cfg,) = configs.load(conn, customer_id="acme")
    assert cfg.writeback == {"folder": "fpa/in", "formats": ["xlsx"], "frequency": "every_4_hours"}
    with pytest.raises(SystemExit):  # argparse: the choices are config.FREQUENCIES
        cli.main(["customers", "writeback", "acme", "--writeback-frequency", "weekly"])
    assert "invalid choice: 'weekly'" in capsys.readouterr().err

    assert cli.main(["customers", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-2:] == ["write-back", "where"]
    assert listed(out)["acme"].split()[-2:] == ["never", str(tmp_path)]

    assert wb.write_back(conn, cfg, triggered_by="manual").status == "success"
    assert cli.main(["customers", "list"]) == 0
    line = listed(capsys.readouterr().out)["acme"]
    (last,) = wb.last_writebacks(conn).values()
    ended = datetime.fromisoformat(last["end_time"]).astimezone(UTC)
    assert f"success {ended:%Y-%m-%d %H:%M} UTC" in line

    assert cli.main(["customers", "writeback", "acme", "--no-writeback"]) == 0
    assert configs.load(conn, customer_id="acme")[0].writeback is None
    assert cli.main(["customers", "writeback", "acme"]) == 0  # on again, at the defaults
    assert configs.load(conn, customer_id="acme")[0].writeback == {}
    assert cli.main(["customers", "writeback", "nobody"]) == 1
    assert "customer 'nobody' has no such source config" in capsys.readouterr().err


def test_the_listing_health_and_page_show_the_last_write_back(
    conn,
    tmp_path,
    chromium,  # noqa: F811
):
    config_id = configs.add(
        conn,
        customer_id="acme",
        source_type="local",
        source_config={"path": str(tmp_path)},
    )
    configs.add(conn, customer_id="beta", source_type="local", source_config={"path": "/b"})
    configs.update(conn, config_id, {"writeback": {"formats": ["csv", "xlsx"]}}, changed_by="t")
    (cfg,) = configs.load(conn, config_id=config_id)
    outcome = wb.write_back(conn, cfg, triggered_by="manual")
    assert outcome.status == "success", outcome.message
    admin = bearer(tokens(conn)["admin"])

    with TestClient(app) as client:
        rows = {r["customer_id"]: r for r in client.get("/sync/config", headers=admin).json()}
        last = rows["acme"]["last_writeback"]
        assert (last["writeback_id"], last["status"], last["budget_count"]) == (
            outcome.writeback_id,
            "success",
            0,
        )
        assert last["files"] == ["finsync_utilisation.csv", "finsync_utilisation.xlsx"]
        assert last["end_time"] and last["message"] == outcome.message
        assert rows["beta"]["last_writeback"] is None
        health = client.get("/sync/health", headers=admin).json()
        by_customer = {c["customer_id"]: c for c in health["customers"]}
        assert by_customer["acme"]["last_writeback"] == last
        assert by_customer["beta"]["last_writeback"] is None

        # The page, its API calls answered by this service as the admin.
        def answer(route):
            path = urlsplit(route.request.url)
            if path.path == "/finsync/ui/":
                served = client.get("/ui/")
            elif path.path.startswith("/finsync/"):
                target = path.path.removeprefix("/finsync") + (
                    f"?{path.query}" if path.query else ""
                )
                served = client.get(target, headers=admin)
            else:
                route.fulfill(status=404, body="")
                return
            route.fulfill(
                status=served.status_code,
                headers=dict(served.headers),
                body=served.content,
            )

        page = chromium.new_page()
        try:
            page.route("http://finsync.test/**", answer)
            page.goto("http://finsync.test/finsync/ui/")
            cell = page.locator('#customers tr[data-customer="acme"] .writeback')
            cell.wait_for(timeout=20_000)
            text = cell.inner_text()
            assert "write-back" in text and "Success" in text
            assert "finsync_utilisation.csv, finsync_utilisation.xlsx" in text
            assert cell.get_attribute("title") == outcome.message
            assert page.locator('#customers tr[data-customer="beta"] .writeback').count() == 0
        finally:
            page.close()
