"""A webhook receiver on loopback, over real TLS (a certificate from a CA the test trusts
through SSL_CERT_FILE, as an operator would trust a private CA), that verifies every request
with the `standardwebhooks` package (an implementation independent of finsync's) and answers
from a script: e.g. ["500", "hang", "200"] fails the first try, hangs past the sender's timeout
on the second, accepts the third; the last answer repeats."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from tests import tls


def make_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


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
    ca: Path  # what a client trusts (SSL_CERT_FILE)
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
    ca, cert, key = tls.certificates(directory)
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
    receiver = Receiver(port=server.server_port, ca=ca)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return receiver, stop
