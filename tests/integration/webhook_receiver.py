"""A webhook receiver on loopback, over real TLS (a self-signed certificate the test trusts
through SSL_CERT_FILE, as an operator would trust a private CA), that verifies every request
with the `standardwebhooks` package (an implementation independent of finsync's) and answers
from a script: e.g. ["500", "hang", "200"] fails the first try, hangs past the sender's timeout
on the second, accepts the third; the last answer repeats."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook


def make_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate (and key) for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "finsync test receiver")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: dict | None
    answer: str
    at: float


@dataclass
class Receiver:
    port: int
    cert: Path
    secrets: dict[str, str] = field(default_factory=dict)  # path -> whsec_ secret
    scripts: dict[str, list[str]] = field(default_factory=dict)  # path -> answers
    received: list[Received] = field(default_factory=list)
    hang_seconds: float = 6.0

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def endpoint(self, path: str, script: list[str]) -> str:
        """A new endpoint at `path` with its own secret; returns the secret."""
        self.secrets[path] = make_secret()
        self.scripts[path] = list(script)
        return self.secrets[path]

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def serve(directory: Path):
    """(Receiver, stop): a threaded HTTPS server on 127.0.0.1."""
    cert, key = self_signed(directory)
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            secret = receiver.secrets.get(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified, payload = False, None
            if secret is not None:
                try:
                    payload = Webhook(secret).verify(body, headers)
                    verified = True
                except Exception:  # noqa: BLE001 - a bad signature is recorded, answered 401
                    verified = False
            script = receiver.scripts.get(self.path) or ["404"]
            answer = script.pop(0) if len(script) > 1 else script[0]
            if not verified and secret is not None:
                answer = "401"
            receiver.received.append(
                Received(self.path, headers, body, verified, payload, answer, time.time())
            )
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                answer = "200"
            try:
                self.send_response(int(answer))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"answer": answer}).encode())
            except OSError:  # the sender gave up waiting
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(port=server.server_port, cert=cert)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return receiver, stop
