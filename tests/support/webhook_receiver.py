"""A webhook receiver for tests: a real HTTP server on a free loopback port, in a thread, that
verifies every delivery as a consumer would (standardwebhooks' Webhook(secret).verify) and can
answer 500 at random or a fixed status."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[str]  # the secrets it verifies with
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)  # the secrets to check each delivery against
    fail_ratio: float = 0.0  # share of deliveries answered 500
    status: int = 200  # the answer otherwise
    trickle_s: float = 0.0  # > 0: send the answer's header lines one every trickle_s seconds
    seed: int = 1
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        rng = random.Random(self.seed)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                    except WebhookVerificationError:
                        continue
                    verified.append(secret)
                with receiver._lock:
                    status = 500 if rng.random() < receiver.fail_ratio else receiver.status
                    receiver.deliveries.append(Delivery(headers.get("webhook-id", ""), headers, body, verified, status))
                if receiver.trickle_s > 0:  # an answer whose headers never end, a line at a time
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                        for n in range(1000):
                            self.wfile.write(b"x-pad-%d: .\r\n" % n)
                            self.wfile.flush()
                            time.sleep(receiver.trickle_s)
                    except OSError:
                        pass  # the client gave up
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)
