"""Shared storage (finsync/storage.py) through Airflow's ObjectStoragePath, on a file:// base
and on the S3-compatible endpoint (moto server on loopback) with an Airflow connection."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from finsync import storage
from tests.integration.api_helpers import budget_sync_dag

pytestmark = pytest.mark.integration
__all__ = ["budget_sync_dag"]  # a fixture, used by name
STORE_CONN_ID = "finsync_storage"


@pytest.fixture(params=["file", "s3"])
def base(request, tmp_path, monkeypatch):
    """Each test runs on both kinds of base."""
    if request.param == "file":
        monkeypatch.setenv(storage.URL_ENV, (tmp_path / "shared").as_uri())
        monkeypatch.delenv(storage.CONN_ENV, raising=False)
        return "file"
    bucket = request.getfixturevalue("s3")  # an empty bucket on the session's moto server
    monkeypatch.setenv(storage.URL_ENV, f"s3://{bucket.bucket}/finsync")
    monkeypatch.setenv(storage.CONN_ENV, STORE_CONN_ID)
    monkeypatch.setenv(f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}", bucket.connection())
    return bucket


def test_put_read_list_and_remove(base):
    ref = storage.key("rejects", "acme", "sync_1_rejects.csv")
    stored = storage.put(ref, b"row,column\n1,Amount\n")
    assert stored.key == "rejects/acme/sync_1_rejects.csv" and stored.size == 20
    assert storage.read_bytes(ref) == b"row,column\n1,Amount\n"
    storage.put(storage.key("uploads", "acme", "FY25 a.csv"), io.BytesIO(b"x" * 3_000_000))
    (listed,) = storage.listing("uploads", "acme")
    assert listed.name == "FY25 a.csv" and listed.size == 3_000_000
    assert listed.key == "uploads/acme/FY25%20a.csv" == storage.stat(listed.key).key
    assert abs(listed.modified_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert storage.listing("uploads", "nobody") == []
    if base == "file":  # no temporary file left beside it
        assert os.listdir(storage.path(ref).parent.path) == ["sync_1_rejects.csv"]
    else:
        keys = [o["Key"] for o in base.client().list_objects_v2(Bucket=base.bucket)["Contents"]]
        assert sorted(keys) == [
            "finsync/rejects/acme/sync_1_rejects.csv",
            "finsync/uploads/acme/FY25%20a.csv",
        ]
    storage.remove(ref)
    with pytest.raises(
        storage.Missing, match="rejects/acme/sync_1_rejects.csv is not in shared storage"
    ):
        storage.read_bytes(ref)


def test_a_missing_file_is_missing_or_expired_by_its_age(base):
    ref = storage.key("rejects", "acme", "sync_9_rejects.csv")
    now = datetime.now(UTC)
    with pytest.raises(storage.Missing) as young:
        storage.recorded(ref, now - timedelta(days=1), now)
    assert not isinstance(young.value, storage.Expired)
    with pytest.raises(storage.Expired, match="30-day retention"):
        storage.recorded(ref, now - timedelta(days=31), now)
    storage.put(ref, b"a" * 2_500_000)
    assert storage.recorded(ref, now - timedelta(days=31), now).size == 2_500_000
    assert b"".join(storage.chunks(ref)) == b"a" * 2_500_000


def test_retention_removes_only_old_files(base):
    storage.put(storage.key("downloads", "acme", "old.csv"), b"1")
    later = datetime.now(UTC) + storage.RETENTION["downloads"] + timedelta(minutes=1)
    assert storage.remove_expired("downloads", "acme", datetime.now(UTC)) == []
    assert storage.remove_expired("downloads", "acme", later) == ["downloads/acme/old.csv"]
    assert storage.listing("downloads", "acme") == []


def test_a_reject_file_recorded_before_shared_storage_is_still_served(tmp_path):
    legacy = tmp_path / "worker" / "rejects" / "sync_3_rejects.csv"  # a worker's own path
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"row,column,value,message\n")
    assert storage.recorded(str(legacy), datetime.now(UTC)).size == 25
    assert b"".join(storage.chunks(str(legacy))) == b"row,column,value,message\n"
    legacy.unlink()
    with pytest.raises(storage.Expired):
        storage.recorded(str(legacy), datetime.now(UTC) - timedelta(days=60))


def test_a_local_base_loads_no_providers_filesystem(tmp_path):
    """A file:// base is fsspec's local filesystem, attached by storage itself: a task on local
    storage never loads the providers' filesystems (Airflow loads them all at the first use of
    an object store: the amazon provider's imports boto3, 0.4 s of each sync)."""
    code = """
import sys
from airflow.sdk import ObjectStoragePath  # as a task has it
from finsync import storage
ref = storage.key("downloads", "acme", "a.csv")
storage.put(ref, b"x")
assert [f.name for f in storage.listing("downloads", "acme")] == ["a.csv"]
assert storage.stat(ref).size == 1 and storage.read_bytes(ref) == b"x"
loaded = [m for m in sys.modules if m.startswith("airflow.providers.amazon.aws.fs")]
print("loaded:", loaded)
"""
    env = {**os.environ, storage.URL_ENV: (tmp_path / "shared").as_uri()}
    env.pop(storage.CONN_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "loaded: []"


def test_keys_encode_names_and_credentials_stay_out_of_the_url(monkeypatch, tmp_path):
    # a customer id or a file name never makes another folder or meets another name
    assert storage.key("downloads", "acme corp", "../FY25 budget.xlsx") == (
        "downloads/acme%20corp/..%2FFY25%20budget.xlsx"
    )
    assert storage.key("uploads", "a%20b", "x") != storage.key("uploads", "a b", "x")
    for bad in ("", ".", ".."):
        with pytest.raises(ValueError):
            storage.key("rejects", "acme", bad)
    with pytest.raises(ValueError):
        storage.key("elsewhere", "acme", "a.csv")
    with pytest.raises(ValueError):
        storage.path("rejects/../../etc/passwd")
    monkeypatch.setenv(storage.URL_ENV, "s3://key:secret@bucket/prefix")
    with pytest.raises(storage.StorageError, match="must not carry credentials") as caught:
        storage.base()
    assert "secret" not in str(caught.value)


def test_an_unreachable_store_is_a_clear_error_without_secrets(monkeypatch):
    down = "finsync_storage_down"  # (Airflow caches a filesystem per connection id)
    monkeypatch.setenv(storage.URL_ENV, "s3://nowhere-bucket/finsync")
    monkeypatch.setenv(storage.CONN_ENV, down)
    conn = {
        "conn_type": "aws",
        "login": "id",
        "password": "very-secret-value",
        "extra": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{down.upper()}", json.dumps(conn))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(storage.StorageError) as caught:
        storage.put(storage.key("rejects", "acme", "r.csv"), b"x")
    text = str(caught.value)
    assert "s3://nowhere-bucket/finsync (connection 'finsync_storage_down')" in text
    assert "very-secret-value" not in text


BAD_ROW_CSV = """Cost Centre,Account,Period,Budget Amount,Currency
Marketing,Events,Jan 2026,"1,000.00",AUD
IT,Cloud,Jan 2026,lots,AUD
Sales,Travel,Q1 2026,800,AUD
"""


def test_an_upload_synced_by_the_dag_and_its_rejects_served_from_s3(
    conn, s3, budget_sync_dag, monkeypatch, tmp_path
):
    """The service keeps the posted file in S3, the DAG's worker (a working folder of its own)
    takes it from there and keeps the reject file there, and the service serves it; a reject
    file gone is 404 while it should be there, 410 once the retention removed it."""
    from fastapi.testclient import TestClient

    from finsync.api.main import app
    from finsync.budget import config as configs
    from tests.conftest import fetch
    from tests.integration.api_helpers import bearer, tokens
    from tests.integration.dagrun import run_dag

    monkeypatch.setenv(storage.URL_ENV, f"s3://{s3.bucket}/finsync")
    monkeypatch.setenv(storage.CONN_ENV, STORE_CONN_ID)
    monkeypatch.setenv(f"AIRFLOW_CONN_{STORE_CONN_ID.upper()}", s3.connection())
    monkeypatch.setenv("FINSYNC_WORK_DIR", str(tmp_path / "worker-b"))
    configs.add(
        conn,
        customer_id="acme",
        source_type="upload",
        source_config={},
        default_currency="AUD",
        error_tolerance_pct=50,
        settle_seconds=0,
    )
    token = bearer(tokens(conn, "acme")["acme"])
    with TestClient(app) as client:
        posted = client.post(
            "/files/import", headers=token, files={"file": ("budget.csv", BAD_ROW_CSV, "text/csv")}
        )
        assert posted.status_code == 202, posted.text

        run_dag("budget_sync", {"customer_id": "acme"})
        (h,) = fetch(conn, "select * from sync_history where status <> 'running'")
        assert h["status"] == "partial" and h["file_name"] == posted.json()["file_name"]
        assert h["reject_file"] == f"rejects/acme/sync_{h['sync_id']}_rejects.csv"
        keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]}
        assert keys == {
            f"finsync/uploads/acme/{h['file_name']}",
            f"finsync/downloads/acme/{h['file_name']}",
            f"finsync/{h['reject_file']}",
        }

        url = f"/sync/history/{h['sync_id']}/rejects"
        served = client.get(url, headers=token)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"].startswith("text/csv")
        lines = served.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "row,column,value,message" and lines[1].startswith(
            "3,Budget Amount,lots,"
        )

        s3.client().delete_object(Bucket=s3.bucket, Key=f"finsync/{h['reject_file']}")
        missing = client.get(url, headers=token)
        assert missing.status_code == 404
        assert "is missing" in missing.json()["detail"] and s3.bucket in missing.json()["detail"]
        conn.execute(
            "update sync_history set end_time = now() - interval '31 days' where sync_id = %s",
            (h["sync_id"],),
        )
        gone = client.get(url, headers=token)
        assert gone.status_code == 410 and "30-day retention" in gone.json()["detail"]
        assert client.get("/sync/history/999/rejects", headers=token).status_code == 404
