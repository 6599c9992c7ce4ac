"""Fixtures for the real protocol servers (servers.py). Each sets its Airflow connection the
way a deployment would: an AIRFLOW_CONN_* environment variable holding the connection JSON."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.servers import S3Bucket, SFTPServerInfo, reset_s3, s3_server, sftp_server

SFTP_CONN_ID = "customer_sftp"
S3_CONN_ID = "customer_s3"


@pytest.fixture
def sftp(tmp_path, monkeypatch) -> Iterator[SFTPServerInfo]:
    """An SFTP server serving tmp_path/sftp-root as `/`; connection `customer_sftp`."""
    with sftp_server(tmp_path / "sftp-root") as server:
        monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}", server.connection())
        yield server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> S3Bucket:
    """An empty bucket on a freshly reset S3 endpoint; connection `customer_s3`."""
    reset_s3(s3_endpoint)
    bucket = S3Bucket(
        endpoint=s3_endpoint,
        bucket=f"budgets-{uuid.uuid4().hex[:8]}",
        access_key_id="finsync-test-key",
        secret_access_key=secrets.token_urlsafe(24),
    )
    bucket.client().create_bucket(Bucket=bucket.bucket)
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", bucket.connection())
    return bucket
