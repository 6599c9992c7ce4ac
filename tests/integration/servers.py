"""Real protocol servers on loopback for the source tests: an SFTP server (asyncssh, in a
background thread with its own event loop) and an S3-compatible endpoint (moto in server
mode). Both listen only on 127.0.0.1 on a free port, stop when their context ends, and stop
by themselves after `lifetime_seconds` whatever happens to the test.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

LOOPBACK = "127.0.0.1"
LIFETIME_SECONDS = 600.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SFTPServerInfo:
    """A running SFTP server: `root` is the local folder it serves as `/`."""

    host: str
    port: int
    root: Path
    username: str
    password: str
    host_key: str  # the server's public key, "ssh-ed25519 AAAA..." (a connection's host_key)
    client_private_key: str  # OpenSSH private key the server also accepts for `username`

    def connection(self, *, password: str | None = None, key: bool = False) -> str:
        """An Airflow connection (JSON, as in AIRFLOW_CONN_*) for this server, checking its
        host key: by password (the right one unless given), or by the client key."""
        extra: dict[str, object] = {"host_key": self.host_key, "look_for_keys": False}
        conn: dict[str, object] = {
            "conn_type": "sftp",
            "host": self.host,
            "port": self.port,
            "login": self.username,
        }
        if key:
            extra["private_key"] = self.client_private_key
        else:
            conn["password"] = self.password if password is None else password
        return json.dumps({**conn, "extra": extra})


class _Auth(asyncssh.SSHServer):
    """One user, with a password or the one authorised client key."""

    def __init__(self, username: str, password: str, client_key: asyncssh.SSHKey) -> None:
        self._username = username
        self._password = password
        self._client_key = client_key.export_public_key()

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._username and secrets.compare_digest(password, self._password)

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._username and key.export_public_key() == self._client_key


@contextmanager
def _event_loop_thread(name: str) -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a daemon thread, stopped and closed at the end."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_SECONDS)
        if not thread.is_alive():
            loop.close()


@contextmanager
def sftp_server(
    root: Path, *, username: str = "budgets", lifetime_seconds: float = LIFETIME_SECONDS
) -> Iterator[SFTPServerInfo]:
    """An SFTP server on 127.0.0.1 serving `root` (chrooted: `/exports` is root/exports),
    with a generated host key, a random password and a generated client key."""
    root.mkdir(parents=True, exist_ok=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    password = secrets.token_urlsafe(16)

    def sftp_factory(chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(root).encode())

    with _event_loop_thread("sftp-server") as loop:

        async def listen() -> asyncssh.SSHAcceptor:
            return await asyncssh.listen(
                LOOPBACK,
                0,
                server_factory=lambda: _Auth(username, password, client_key),
                server_host_keys=[host_key],
                sftp_factory=sftp_factory,
                allow_scp=False,
            )

        acceptor = asyncio.run_coroutine_threadsafe(listen(), loop).result(STOP_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.call_later, lifetime_seconds, acceptor.close)
        try:
            yield SFTPServerInfo(
                host=LOOPBACK,
                port=acceptor.get_port(),
                root=root,
                username=username,
                password=password,
                host_key=" ".join(host_key.export_public_key().decode().split()[:2]),
                client_private_key=client_key.export_private_key().decode(),
            )
        finally:
            asyncio.run_coroutine_threadsafe(_close(acceptor), loop).result(STOP_TIMEOUT_SECONDS)


async def _close(acceptor: asyncssh.SSHAcceptor) -> None:
    acceptor.close()
    await acceptor.wait_closed()


@contextmanager
def s3_server(*, lifetime_seconds: float = LIFETIME_SECONDS) -> Iterator[str]:
    """An S3-compatible endpoint (moto in server mode) on 127.0.0.1; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    lock = threading.Lock()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        with lock:
            if not stopped:
                stopped = True
                server.stop()
                # stop() ends serving but leaves the listening socket open: close it too.
                if (wsgi := getattr(server, "_server", None)) is not None:
                    wsgi.server_close()

    timer = threading.Timer(lifetime_seconds, stop)
    timer.daemon = True
    timer.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        timer.cancel()
        stop()


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on the S3 endpoint, with the test credentials its connection uses."""

    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def connection(self) -> str:
        """An Airflow connection (JSON, as in AIRFLOW_CONN_*) for the endpoint."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key_id,
                "password": self.secret_access_key,
                "extra": {"endpoint_url": self.endpoint, "region_name": self.region},
            }
        )

    def client(self):
        """A plain boto3 client, playing the customer who puts files in the bucket."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


def reset_s3(endpoint: str) -> None:
    """Forget every bucket on a moto endpoint (its state is per server, not per client)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=STOP_TIMEOUT_SECONDS):
        pass
