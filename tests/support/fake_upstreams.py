"""Local stand-ins for api.github.com and gmail.googleapis.com, at the HTTP level.

How the published toolkits are pointed here, without touching their code:

* ``arcade_github`` reads its base URL from the ``GITHUB_SERVER_URL`` *secret*
  (GitHub Enterprise support), so a call passes ``secrets=[{"key":
  "GITHUB_SERVER_URL", "value": fake.github_url}]`` and talks plain HTTP here.
* ``arcade_gmail`` uses googleapiclient (bundled discovery document, no fetch)
  over httplib2 with the fixed root ``https://gmail.googleapis.com/``. httplib2
  honours ``https_proxy``, so this server is also an HTTP proxy: it accepts
  ``CONNECT``, terminates TLS with a certificate from a throwaway test CA and
  answers the Gmail API itself. httplib2 must trust that CA:
  ``HTTPLIB2_CA_CERTS`` for a fresh process, or ``httplib2.CA_CERTS`` in this
  one (httplib2 reads the variable once, at import). See :meth:`gmail_env`.

Every request is recorded with the ``Authorization`` header it carried.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

GMAIL_HOSTS = ("gmail.googleapis.com", "www.googleapis.com")


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    method: str
    host: str
    path: str
    authorization: str | None


def _cert(subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any, hosts=()) -> Any:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """Write a CA and a leaf for the Gmail hosts; return (ca, leaf cert, leaf key)."""
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("valetkey test CA", ca_key, None, ca_key)
    leaf = _cert(GMAIL_HOSTS[0], leaf_key, ca, ca_key, GMAIL_HOSTS)
    pem = serialization.Encoding.PEM
    paths = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem))
    paths[2].write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def sample_message(message_id: str) -> dict[str, Any]:
    """A Gmail API ``Message`` with a plain-text body."""
    body = base64.urlsafe_b64encode(f"Hello from {message_id}".encode()).decode()
    headers = {"From": "gavin@hooli.xyz", "To": "richard@piedpiper.com", "Subject": f"Re: {message_id}"}
    return {
        "id": message_id,
        "threadId": f"t-{message_id}",
        "labelIds": ["INBOX"],
        "snippet": f"Hello from {message_id}",
        "internalDate": "1735689600000",
        "payload": {
            "mimeType": "text/plain",
            "headers": [{"name": k, "value": v} for k, v in headers.items()],
            "body": {"size": 20, "data": body},
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        # Become the tunnel's far end: TLS as the target host, then serve on it.
        self.send_response(200, "Connection established")
        self.end_headers()
        tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        _Handler(tls, self.client_address, self.server)
        self.close_connection = True

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = (self.headers.get("Host") or "").split(":")[0]
        self.server.seen.append(Seen(self.command, host, self.path, self.headers.get("Authorization")))
        status, content_type, payload = self.server.fake.route(
            self.command, host, self.path, self.headers, body
        )
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[Seen]
    tls: ssl.SSLContext
    fake: FakeUpstreams


class FakeUpstreams:
    """GitHub and Gmail fakes on one loopback port (plain HTTP + CONNECT/TLS).

    Use as a context manager; ``seen`` lists the requests received.
    """

    def __init__(
        self, messages: list[str] | None = None, revoked_tokens: frozenset[str] = frozenset()
    ) -> None:
        self.revoked_tokens = revoked_tokens
        self.messages = {m: sample_message(m) for m in (messages if messages is not None else ["m1"])}
        self._dir = tempfile.TemporaryDirectory(prefix="valetkey-fake-")
        ca, leaf, key = _write_test_ca(Path(self._dir.name))
        self.ca_file = str(ca)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.seen, self._server.fake = [], self
        self._server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server.tls.load_cert_chain(leaf, key)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def seen(self) -> list[Seen]:
        """Requests received so far, in order (tunnelled ones included, CONNECTs not)."""
        return self._server.seen

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def github_url(self) -> str:
        """Value for the ``GITHUB_SERVER_URL`` secret."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gmail_env(self) -> dict[str, str]:
        """Environment that sends a process's httplib2 calls for Gmail here."""
        return {
            "https_proxy": self.proxy_url,
            "HTTPS_PROXY": self.proxy_url,
            "HTTPLIB2_CA_CERTS": self.ca_file,
        }

    def __enter__(self) -> FakeUpstreams:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def route(self, method: str, host: str, path: str, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        """Answer one request: (status, content type, body)."""
        path_only = path.split("?", 1)[0]
        if (headers.get("Authorization") or "").removeprefix("Bearer ") in self.revoked_tokens:
            return _json(401, {"message": "Bad credentials"})
        if re.fullmatch(r"/user/starred/[^/]+/[^/]+", path_only) and method in ("PUT", "DELETE"):
            return 204, "", b""
        if host in GMAIL_HOSTS:
            return self._gmail(method, path_only, headers, body)
        return _json(404, {"message": "Not Found"})

    def _gmail(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        if method == "GET" and path == "/gmail/v1/users/me/messages":
            items = [{"id": m, "threadId": f"t-{m}"} for m in self.messages]
            return _json(200, {"messages": items, "resultSizeEstimate": len(items)})
        found = re.fullmatch(r"/gmail/v1/users/me/messages/([^/]+)", path)
        if method == "GET" and found and found.group(1) in self.messages:
            return _json(200, self.messages[found.group(1)])
        if method == "POST" and path in ("/batch", "/batch/gmail/v1"):
            return self._batch(headers.get("Content-Type", ""), body)
        return _json(404, {"error": {"code": 404, "message": "Requested entity was not found."}})

    def _batch(self, content_type: str, body: bytes) -> tuple[int, str, bytes]:
        """Answer a googleapiclient batch: one ``application/http`` part per sub-request."""
        boundary = content_type.split("boundary=", 1)[1].strip('"')
        parts = []
        for part in body.decode().split(f"--{boundary}")[1:-1]:
            content_id = re.search(r"Content-ID: <([^>]*)>", part, re.IGNORECASE)
            request_line = re.search(r"^(GET|POST) (\S+) HTTP", part, re.MULTILINE)
            assert content_id
            assert request_line
            status, _, payload = self._gmail(
                request_line.group(1), request_line.group(2).split("?")[0], {}, b""
            )
            parts.append(
                f"--batch_fake\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{content_id.group(1)}>\r\n\r\n"
                f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n\r\n{payload.decode()}\r\n"
            )
        return 200, "multipart/mixed; boundary=batch_fake", ("".join(parts) + "--batch_fake--\r\n").encode()


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, "application/json; charset=UTF-8", json.dumps(body).encode()
