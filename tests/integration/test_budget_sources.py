"""Budget file sources against real servers: an SFTP server through the provider's SFTPHook,
an S3-compatible endpoint through S3Hook, local and upload folders; the exactly-once ledger
against real PostgreSQL. No mocks: every listing, look and download crosses the protocol.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finsync.budget.sources import (
    DEFAULT_GLOBS,
    FileChangedError,
    LocalSource,
    RemoteFile,
    S3Source,
    SFTPSource,
    SourceConfigError,
    SourceError,
    build_source,
    choose_file,
    cleanup_downloads,
    explain_choice,
    is_settled,
    ledger_already_seen,
    ledger_lookup,
    ledger_record,
    ledger_seen_checksum,
    sha256_of,
    validate_source_config,
)
from tests.conftest import fetch
from tests.integration.conftest import S3_CONN_ID, SFTP_CONN_ID

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOT_SEEN = lambda remote: False  # noqa: E731 - a tiny predicate reads best inline


def put(folder: Path, name: str, content: bytes, modified_at: datetime | None = None) -> Path:
    """Write a customer's file, with a chosen modification time."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    if modified_at is not None:
        os.utime(path, (modified_at.timestamp(), modified_at.timestamp()))
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under a folder with its bytes and mtime: the customer's files, untouched?"""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def by_name(files: list[RemoteFile]) -> dict[str, RemoteFile]:
    return {f.name: f for f in files}


# ---------------------------------------------------------------------------- local, upload


def test_local_lists_the_glob_case_insensitively_one_level_deep(tmp_path):
    folder = tmp_path / "drop"
    put(folder, "budget_fy26.csv", b"a,b\n", T0)
    put(folder, "Budget_FY26.XLSX", b"xlsx", T0 + timedelta(minutes=1))
    put(folder, "old.xls", b"xls", T0)
    put(folder, "notes.txt", b"not a budget")
    put(folder, ".budget.csv", b"hidden upload in progress")
    put(folder, "~$Budget_FY26.xlsx", b"office lock file")
    put(folder / "archive", "budget_fy25.csv", b"in a sub-folder")

    files = by_name(LocalSource("acme", str(folder)).list_files())

    assert sorted(files) == ["Budget_FY26.XLSX", "budget_fy26.csv", "old.xls"]
    xlsx = files["Budget_FY26.XLSX"]
    assert (xlsx.size, xlsx.modified_at) == (4, T0 + timedelta(minutes=1))
    assert xlsx.ref == str(folder / "Budget_FY26.XLSX")
    only_csv = LocalSource("acme", str(folder), ["BUDGET_*.csv"]).list_files()
    assert [f.name for f in only_csv] == ["budget_fy26.csv"]


def test_local_fetch_copies_and_never_touches_the_customer_file(tmp_path):
    folder, work = tmp_path / "drop", tmp_path / "work" / "run-1"
    put(folder, "budget.csv", b"department,amount\nSales,100\n", T0)
    before = snapshot(folder)
    source = LocalSource("acme", str(folder))
    [remote] = source.list_files()

    copy = source.fetch(remote, work)
    copy.write_bytes(b"the working copy is ours to change")

    assert copy == work / "budget.csv"
    assert snapshot(folder) == before
    with pytest.raises(SourceError, match="inside the customer's folder"):
        source.fetch(remote, folder / "work")
    assert snapshot(folder) == before


def test_upload_reads_what_the_api_put_in_shared_storage(tmp_path, monkeypatch):
    from finsync import storage

    monkeypatch.setenv(storage.URL_ENV, (tmp_path / "shared").as_uri())
    storage.put(storage.key("uploads", "acme", "posted.xlsx"), b"xlsx bytes")
    storage.put(storage.key("uploads", "globex", "theirs.xlsx"), b"not acme's")
    source = build_source("acme", "upload", {"path": "/old/drop/folder/not/read"})

    [remote] = source.list_files()
    copy = source.fetch(remote, tmp_path / "work")

    assert source.source_type == "upload" and remote.ref == "uploads/acme/posted.xlsx"
    assert source.stat("posted.xlsx") == remote and source.stat("gone.xlsx") is None
    assert copy.read_bytes() == b"xlsx bytes"
    assert storage.read_bytes(remote.ref) == b"xlsx bytes"  # the posted file stays
    with pytest.raises(SourceError, match="read only"):
        source.write("finsync_x.csv", b"")


def test_local_missing_folder_names_the_source(tmp_path):
    source = build_source("acme", "local", {"path": str(tmp_path / "nowhere")})
    with pytest.raises(SourceError) as err:
        source.list_files()
    assert str(err.value) == (
        f"local source of customer 'acme' (folder {tmp_path / 'nowhere'}): the folder does not "
        "exist or is not a folder. Check source_config.path and that the folder is mounted on "
        "the workers."
    )


def test_fetch_of_a_file_that_grew_since_listing_fails_and_leaves_no_copy(tmp_path):
    folder, work = tmp_path / "drop", tmp_path / "work"
    path = put(folder, "budget.csv", b"a,b\n1,2\n", T0)
    source = LocalSource("acme", str(folder))
    [remote] = source.list_files()
    with path.open("ab") as f:
        f.write(b"3,4\n")

    with pytest.raises(FileChangedError, match="changed while it was fetched"):
        source.fetch(remote, work)
    assert sorted(p.name for p in work.iterdir()) == [".finsync-working-copies"]


def test_a_file_touched_between_looks_is_not_settled(tmp_path):
    path = put(tmp_path / "drop", "budget.csv", b"same size", T0)
    source = LocalSource("acme", str(tmp_path / "drop"))
    [remote] = source.list_files()
    later = (T0 + timedelta(seconds=1)).timestamp()

    assert is_settled(source, remote, 0, sleep=lambda _: os.utime(path, (later, later))) is False


# ---------------------------------------------------------------------------- SFTP


@pytest.fixture
def sftp_source(sftp) -> SFTPSource:
    return build_source("acme", "sftp", {"conn_id": SFTP_CONN_ID, "path": "/exports"})


def test_sftp_lists_with_the_glob_and_fetches_through_sftphook(sftp, sftp_source, tmp_path):
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    exports = sftp.root / "exports"
    put(exports, "budget_2026.CSV", b"department,amount\nSales,100\n", T0)
    put(exports, "budget_2026.xlsx", b"PK\x03\x04 xlsx", T0 + timedelta(hours=1))
    put(exports, "readme.md", b"not a budget", T0)
    put(exports / "2025", "budget_2025.csv", b"in a sub-folder", T0)
    before = snapshot(sftp.root)

    files = by_name(sftp_source.list_files())
    copy = sftp_source.fetch(files["budget_2026.CSV"], tmp_path / "work")

    assert isinstance(sftp_source.hook(), SFTPHook)
    assert sorted(files) == ["budget_2026.CSV", "budget_2026.xlsx"]
    assert files["budget_2026.xlsx"].modified_at == T0 + timedelta(hours=1)
    assert files["budget_2026.xlsx"].size == len(b"PK\x03\x04 xlsx")
    assert files["budget_2026.CSV"].ref == "/exports/budget_2026.CSV"
    assert copy.read_bytes() == b"department,amount\nSales,100\n"
    assert snapshot(sftp.root) == before


def test_sftp_authenticates_with_a_key_from_the_connection(sftp, monkeypatch):
    put(sftp.root / "exports", "budget.csv", b"x", T0)
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_SFTP", sftp.connection(key=True))
    source = build_source("acme", "sftp", {"conn_id": SFTP_CONN_ID, "path": "/exports"})

    assert [f.name for f in source.list_files()] == ["budget.csv"]


def test_sftp_takes_the_newest_file_once_it_has_settled(sftp, sftp_source):
    exports = sftp.root / "exports"
    put(exports, "budget_jan.csv", b"jan", T0)
    put(exports, "budget_feb.csv", b"feb", T0 + timedelta(days=31))
    put(exports, "budget_mar.csv", b"march", T0 + timedelta(days=59))
    files = sftp_source.list_files()
    written = T0 + timedelta(days=59)

    waiting = explain_choice(
        files, already_seen=NOT_SEEN, settle_seconds=60, now=written + timedelta(seconds=20)
    )
    chosen = choose_file(
        files, already_seen=NOT_SEEN, settle_seconds=60, now=written + timedelta(seconds=61)
    )

    assert waiting.file is None
    assert waiting.reason == (
        "the newest file budget_mar.csv was modified 20 s ago; waiting until it is 60 s old"
    )
    assert chosen is not None and chosen.name == "budget_mar.csv" and chosen.size == 5


def test_sftp_growing_file_waits_for_the_next_poll(sftp, sftp_source):
    path = put(sftp.root / "exports", "budget.csv", b"department,amount\n", T0)
    [remote] = sftp_source.list_files()

    def customer_still_writing(seconds: float) -> None:
        time.sleep(seconds)
        with path.open("ab") as f:
            f.write(b"Sales,100\n")
        # Within the same second SFTP's whole-second mtime does not move: only the size tells.
        os.utime(path, (T0.timestamp(), T0.timestamp()))

    assert is_settled(sftp_source, remote, 0.05, sleep=customer_still_writing) is False
    [grown] = sftp_source.list_files()
    assert grown.size == remote.size + len(b"Sales,100\n")
    assert is_settled(sftp_source, grown, 0.05) is True


def test_sftp_file_gone_between_looks_is_not_settled(sftp, sftp_source):
    path = put(sftp.root / "exports", "budget.csv", b"x", T0)
    [remote] = sftp_source.list_files()
    assert is_settled(sftp_source, remote, 0, sleep=lambda _: path.unlink()) is False


def test_sftp_wrong_password_is_a_clear_error_without_the_password(sftp, monkeypatch):
    wrong = "Wr0ng-pa55word-for-test"
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_SFTP", sftp.connection(password=wrong))
    source = build_source("acme", "sftp", {"conn_id": SFTP_CONN_ID, "path": "/exports"})

    with pytest.raises(SourceError) as err:
        source.list_files()

    assert str(err.value) == (
        f"sftp source of customer 'acme' (connection 'customer_sftp', host 127.0.0.1:{sftp.port}, "
        "path /exports): listing the folder: authentication failed. Check the login and password "
        "or key of connection 'customer_sftp'."
    )
    assert wrong not in repr(err.value) and sftp.password not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_sftp_missing_folder_names_the_source(sftp, sftp_source):
    (sftp.root / "elsewhere").mkdir()
    with pytest.raises(SourceError) as err:
        sftp_source.list_files()
    assert "listing the folder: no such file or folder on the server" in str(err.value)
    assert f"host 127.0.0.1:{sftp.port}, path /exports" in str(err.value)
    assert sftp.password not in str(err.value)


def test_sftp_unreachable_server_and_missing_connection(monkeypatch, sftp):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_CUSTOMER_SFTP",
        sftp.connection().replace(f'"port": {sftp.port}', f'"port": {closed_port}'),
    )
    unreachable = build_source("acme", "sftp", {"conn_id": SFTP_CONN_ID, "path": "/exports"})
    missing = build_source("acme", "sftp", {"conn_id": "acme_sftp", "path": "/exports"})

    with pytest.raises(SourceError) as down:
        unreachable.list_files()
    with pytest.raises(SourceError) as undefined:
        missing.list_files()

    assert f"host 127.0.0.1:{closed_port}" in str(down.value)
    assert "cannot reach or use the server (NoValidConnectionsError" in str(down.value)
    assert sftp.password not in str(down.value)
    assert str(undefined.value) == (
        "sftp source of customer 'acme' (connection 'acme_sftp', host unknown, path /exports): "
        "the Airflow connection 'acme_sftp' is not defined. Create it (UI, AIRFLOW_CONN_* "
        "variable or secrets backend)."
    )


def test_sftp_host_key_mismatch_is_refused(sftp, monkeypatch):
    import asyncssh

    other_key = " ".join(
        asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2]
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_CUSTOMER_SFTP", sftp.connection().replace(sftp.host_key, other_key)
    )
    source = build_source("acme", "sftp", {"conn_id": SFTP_CONN_ID, "path": "/exports"})
    with pytest.raises(SourceError, match="host key is not the one the connection expects"):
        source.list_files()


# ---------------------------------------------------------------------------- S3


@pytest.fixture
def s3_source(s3) -> S3Source:
    config = {"conn_id": S3_CONN_ID, "bucket": s3.bucket, "prefix": "acme/exports"}
    return build_source("acme", "s3", config)


def test_s3_lists_the_prefix_with_the_glob_and_fetches_through_s3hook(s3, s3_source, tmp_path):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client = s3.client()
    for key, body in {
        "acme/exports/Budget_2026.CSV": b"department,amount\nSales,100\n",
        "acme/exports/budget_2026.xlsx": b"xlsx",
        "acme/exports/readme.md": b"not a budget",
        "acme/exports/2025/budget_2025.csv": b"in a sub-folder",
        "acme/exports-old/budget.csv": b"a sibling prefix, not the folder",
        "other/budget.csv": b"another customer",
    }.items():
        client.put_object(Bucket=s3.bucket, Key=key, Body=body)

    files = by_name(s3_source.list_files())
    copy = s3_source.fetch(files["Budget_2026.CSV"], tmp_path / "work")

    assert isinstance(s3_source.hook(), S3Hook)
    assert sorted(files) == ["Budget_2026.CSV", "budget_2026.xlsx"]
    head = client.head_object(Bucket=s3.bucket, Key="acme/exports/budget_2026.xlsx")
    assert files["budget_2026.xlsx"].modified_at == head["LastModified"]
    assert files["budget_2026.xlsx"].size == 4
    assert files["Budget_2026.CSV"].ref == "acme/exports/Budget_2026.CSV"
    assert copy.read_bytes() == b"department,amount\nSales,100\n"
    assert sorted(p.name for p in copy.parent.iterdir()) == [
        ".finsync-working-copies",
        "Budget_2026.CSV",
    ]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket)["Contents"]]
    assert len(keys) == 6  # nothing deleted or moved


def test_s3_takes_the_newest_object_once_settled_and_notices_a_replaced_one(s3, s3_source):
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key="acme/exports/budget_v1.csv", Body=b"v1")
    time.sleep(1.1)  # S3 modification times have one-second resolution
    client.put_object(Bucket=s3.bucket, Key="acme/exports/budget_v2.csv", Body=b"v2")
    files = s3_source.list_files()
    newest = max(f.modified_at for f in files)

    early = choose_file(files, already_seen=NOT_SEEN, settle_seconds=60, now=newest)
    chosen = choose_file(
        files, already_seen=NOT_SEEN, settle_seconds=60, now=newest + timedelta(minutes=5)
    )
    assert early is None
    assert chosen is not None and chosen.name == "budget_v2.csv"
    assert is_settled(s3_source, chosen, 0) is True

    def customer_uploads_again(_: float) -> None:
        client.put_object(Bucket=s3.bucket, Key=chosen.ref, Body=b"v2 with more rows")

    assert is_settled(s3_source, chosen, 0, sleep=customer_uploads_again) is False


def test_s3_missing_bucket_is_a_clear_error_without_the_secret(s3):
    source = build_source(
        "acme", "s3", {"conn_id": S3_CONN_ID, "bucket": "no-such-bucket", "prefix": "exports"}
    )
    with pytest.raises(SourceError) as err:
        source.list_files()
    assert str(err.value) == (
        f"s3 source of customer 'acme' (connection 'customer_s3', endpoint {s3.endpoint}, "
        "bucket no-such-bucket, prefix exports/): listing the bucket: the bucket does not exist. "
        "Check source_config.bucket and prefix."
    )
    assert s3.secret_access_key not in repr(err.value)


def test_s3_missing_connection_is_refused_rather_than_using_ambient_credentials(s3):
    source = build_source("acme", "s3", {"conn_id": "acme_s3", "bucket": s3.bucket})
    with pytest.raises(SourceError, match="the Airflow connection 'acme_s3' is not defined"):
        source.list_files()


# ---------------------------------------------------------------------------- exactly once


def add_config(conn, customer_id: str = "acme") -> int:
    row = conn.execute(
        "insert into budget_data_source_config (customer_id, source_type, source_config) "
        "values (%s, 'sftp', %s::jsonb) returning config_id",
        (customer_id, '{"conn_id": "customer_sftp", "path": "/exports"}'),
    ).fetchone()
    return row[0]


def take(source, conn, config_id: int, work: Path, now: datetime) -> tuple[str, RemoteFile | None]:
    """One poll as the sync runs it: choose, settle, fetch, checksum, record."""
    remote = choose_file(
        source.list_files(),
        already_seen=ledger_already_seen(conn, config_id),
        settle_seconds=60,
        now=now,
    )
    if remote is None or not is_settled(source, remote, 0):
        return "nothing", None
    sha = sha256_of(source.fetch(remote, work))
    if ledger_seen_checksum(conn, config_id, remote.name, sha):
        ledger_record(conn, config_id, remote, sha, "unchanged", None)
        return "unchanged", remote
    ledger_record(conn, config_id, remote, sha, "success", 1)
    return "new", remote


def test_each_file_version_is_taken_exactly_once(conn, sftp, sftp_source, tmp_path):
    config_id = add_config(conn)
    exports, work, now = sftp.root / "exports", tmp_path / "work", T0 + timedelta(days=1)
    put(exports, "budget.csv", b"department,amount\nSales,100\n", T0)

    first = take(sftp_source, conn, config_id, work, now)
    again = take(sftp_source, conn, config_id, work, now)
    put(exports, "budget.csv", b"department,amount\nSales,100\n", T0 + timedelta(hours=1))
    same_bytes_new_mtime = take(sftp_source, conn, config_id, work, now)
    after_unchanged = take(sftp_source, conn, config_id, work, now)
    put(exports, "budget.csv", b"department,amount\nSales,250\n", T0 + timedelta(hours=2))
    changed = take(sftp_source, conn, config_id, work, now)

    assert first[0] == "new" and first[1].modified_at == T0
    assert again == ("nothing", None)
    assert same_bytes_new_mtime[0] == "unchanged"
    assert after_unchanged == ("nothing", None)
    assert changed[0] == "new" and changed[1].modified_at == T0 + timedelta(hours=2)
    rows = fetch(
        conn,
        "select modified_at, status, sync_id from budget_file_ledger "
        "where config_id = %s order by modified_at",
        (config_id,),
    )
    assert [(r["modified_at"], r["status"], r["sync_id"]) for r in rows] == [
        (T0, "success", 1),
        (T0 + timedelta(hours=1), "unchanged", None),
        (T0 + timedelta(hours=2), "success", 1),
    ]


def test_older_files_are_superseded_by_the_newest(conn, tmp_path):
    config_id = add_config(conn)
    folder, now = tmp_path / "drop", T0 + timedelta(days=1)
    put(folder, "budget_feb.csv", b"feb", T0 + timedelta(hours=1))
    source = LocalSource("acme", str(folder))
    assert take(source, conn, config_id, tmp_path / "work", now)[1].name == "budget_feb.csv"

    put(folder, "budget_jan.csv", b"jan, copied in late", T0)  # older than the one taken

    assert take(source, conn, config_id, tmp_path / "work", now) == ("nothing", None)


def test_ledger_record_is_idempotent_and_every_recorded_outcome_counts(conn):
    config_id = add_config(conn)
    remote = RemoteFile("budget.xlsx", 2048, T0, "/exports/budget.xlsx")
    seen = ledger_already_seen(conn, config_id)

    assert ledger_lookup(conn, config_id, remote) is None
    ledger_record(conn, config_id, remote, "ab" * 32, "needs_review", 7)
    review = (ledger_lookup(conn, config_id, remote), seen(remote))
    ledger_record(conn, config_id, remote, "ab" * 32, "failed", 8)
    failed = (ledger_lookup(conn, config_id, remote), seen(remote))
    checksum_after_failure = ledger_seen_checksum(conn, config_id, "budget.xlsx", "ab" * 32)
    ledger_record(conn, config_id, remote, "ab" * 32, "success", 9)
    ledger_record(conn, config_id, remote, "ab" * 32, "success", 9)

    assert review == ("needs_review", True)
    assert failed == ("failed", True)
    assert checksum_after_failure is True
    assert (ledger_lookup(conn, config_id, remote), seen(remote)) == ("success", True)
    assert ledger_seen_checksum(conn, config_id, "budget.xlsx", "ab" * 32) is True
    assert ledger_seen_checksum(conn, config_id, "other.xlsx", "ab" * 32) is False
    assert ledger_seen_checksum(conn, config_id, "budget.xlsx", "cd" * 32) is False
    rows = fetch(conn, "select status, sync_id from budget_file_ledger")
    assert rows == [{"status": "success", "sync_id": 9}]
    other_config = add_config(conn, "globex")
    assert ledger_lookup(conn, other_config, remote) is None
    with pytest.raises(ValueError, match="ledger status must be one of"):
        ledger_record(conn, config_id, remote, "ab" * 32, "done", 9)


def test_an_already_processed_newest_file_is_reported(tmp_path):
    files = [RemoteFile("b.csv", 1, T0, "b.csv")]
    choice = explain_choice(files, already_seen=lambda f: True, settle_seconds=0, now=T0)
    assert choice.file is None
    assert choice.reason == "the newest file b.csv was already processed: unchanged"
    assert explain_choice([], already_seen=NOT_SEEN, settle_seconds=0, now=T0).reason == (
        "no file matches the glob"
    )


# ---------------------------------------------------------------------------- local copies


def test_sha256_of_streams_a_large_file(tmp_path):
    content = os.urandom(3 * 1024 * 1024 + 17)
    path = put(tmp_path, "big.xlsx", content)
    assert sha256_of(path) == hashlib.sha256(content).hexdigest()


def test_cleanup_downloads_keeps_recent_copies_and_never_touches_other_files(tmp_path):
    customer = tmp_path / "drop"
    source = LocalSource("acme", str(customer))
    work, now = tmp_path / "work", datetime.now(UTC)
    put(customer, "budget.csv", b"x", T0)
    [remote] = source.list_files()
    old_copy = source.fetch(remote, work / "run-old")
    new_copy = source.fetch(remote, work / "run-new")
    week_ago = (now - timedelta(days=7)).timestamp()
    os.utime(old_copy, (week_ago, week_ago))
    not_ours = put(work / "notes", "keep.csv", b"not a working copy", now - timedelta(days=30))
    before = snapshot(customer)

    removed = cleanup_downloads(work, timedelta(days=3), now)
    cleanup_downloads(customer, timedelta(0), now + timedelta(days=1))  # a mistaken folder

    assert removed == [old_copy]
    assert not (work / "run-old").exists()
    assert new_copy.exists() and not_ours.exists()
    assert snapshot(customer) == before


# ---------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    "config",
    [
        {"conn_id": "acme_sftp", "path": "/exports", "password": "hunter2hunter2"},
        {"conn_id": "acme_sftp", "path": "/exports", "Private-Key": "-----BEGIN..."},
        {"conn_id": "acme_sftp", "path": "/exports", "options": {"api_token": "abc"}},
        {"conn_id": "acme_sftp", "path": "sftp://acme:hunter2hunter2@sftp.acme.test/exports"},
    ],
)
def test_validate_source_config_refuses_credentials_without_echoing_them(config):
    with pytest.raises(SourceConfigError) as err:
        validate_source_config("sftp", config)
    assert "must not hold credentials" in str(err.value)
    assert "Airflow connection" in str(err.value)
    assert "hunter2" not in str(err.value) and "abc" not in str(err.value)


def test_validate_source_config_refuses_the_password_key_exactly():
    with pytest.raises(SourceConfigError) as err:
        build_source("acme", "s3", {"conn_id": "acme_s3", "bucket": "b", "password": "p4ss!"})
    assert str(err.value) == (
        "source_config of a s3 source must not hold credentials (found: password). "
        "Put them in an Airflow connection and name it with conn_id."
    )


@pytest.mark.parametrize(
    ("source_type", "config", "message"),
    [
        ("sftp", {"path": "/exports"}, "conn_id is required"),
        ("s3", {"conn_id": "acme_s3"}, "bucket is required"),
        ("local", {"glob": "*.csv"}, "path is required"),
        ("s3", {"conn_id": "x", "bucket": "b/exports"}, "bucket must be a bucket name"),
        ("local", {"path": "/d", "settle_seconds": -1}, "settle_seconds must be a whole number"),
        ("local", {"path": "/d", "header_row": 0}, "header_row must be a whole number >= 1"),
        ("local", {"path": "/d", "glob": []}, "glob must be a non-empty pattern"),
        ("local", {"path": "/d", "scenario": " "}, "scenario must name the scenario"),
        ("local", {"path": "/d", "duplicates": "add"}, "duplicates must be 'reject'"),
        ("ftp", {"path": "/d"}, "source_type must be one of local, upload, sftp, s3"),
    ],
)
def test_validate_source_config_checks_keys_per_type(source_type, config, message):
    with pytest.raises(SourceConfigError, match=message):
        validate_source_config(source_type, config)


def test_valid_configs_build_their_sources():
    full = {"path": "/d", "glob": ["*.csv"], "sheet": "FY26", "header_row": 3, "settle_seconds": 0}
    full |= {"scenario": "Budget", "duplicates": "sum"}
    validate_source_config("local", full)
    s3 = build_source("acme", "s3", {"conn_id": "acme_s3", "bucket": "budgets"})
    assert (s3.prefix, s3.globs) == ("", DEFAULT_GLOBS)
    assert build_source("acme", "local", full).globs == ("*.csv",)
