"""Shared storage (finsync/storage.py) through Airflow's ObjectStoragePath, on a file:// base
and on the S3-compatible endpoint (moto server on loopback) with an Airflow connection."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from finsync import storage

pytestmark = pytest.mark.integration
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
    storage.put(storage.key("uploads", "acme", "a.csv"), io.BytesIO(b"x" * 3_000_000))
    (listed,) = storage.listing("uploads", "acme")
    assert listed.name == "a.csv" and listed.size == 3_000_000
    assert abs(listed.modified_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert storage.listing("uploads", "nobody") == []
    if base == "file":  # no temporary file left beside it
        assert os.listdir(storage.path(ref).parent.path) == ["sync_1_rejects.csv"]
    else:
        keys = [o["Key"] for o in base.client().list_objects_v2(Bucket=base.bucket)["Contents"]]
        assert sorted(keys) == [
            "finsync/rejects/acme/sync_1_rejects.csv",
            "finsync/uploads/acme/a.csv",
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
        storage.fetch_recorded(ref, now - timedelta(days=1), now)
    assert not isinstance(young.value, storage.Expired)
    with pytest.raises(storage.Expired, match="30-day retention"):
        storage.fetch_recorded(ref, now - timedelta(days=31), now)


def test_retention_removes_only_old_files(base):
    storage.put(storage.key("downloads", "acme", "old.csv"), b"1")
    later = datetime.now(UTC) + storage.RETENTION["downloads"] + timedelta(minutes=1)
    assert storage.remove_expired("downloads", "acme", datetime.now(UTC)) == []
    assert storage.remove_expired("downloads", "acme", later) == ["downloads/acme/old.csv"]
    assert storage.listing("downloads", "acme") == []


def test_keys_are_plain_and_credentials_stay_out_of_the_url(monkeypatch, tmp_path):
    for bad in ("../x", "a/b", "", "."):
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
