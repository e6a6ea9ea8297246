"""sentry-python, unchanged, with a transport that records what it sent.

RecordingTransport is the SDK's own HttpTransport: requests, compression and
auth are the SDK's. It only notes each request's headers, body, envelope items
and the relay's status, so a test can compare "what the SDK sent" with "what
reached Kafka" item by item.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Iterator

import sentry_sdk
from sentry_sdk.transport import HttpTransport


@dataclasses.dataclass
class SentItem:
    type: str
    headers: dict
    payload: bytes


@dataclasses.dataclass
class SentRequest:
    headers: dict
    body: bytes
    items: list[SentItem]
    status: int | None = None
    response_headers: dict = dataclasses.field(default_factory=dict)


class RecordingTransport(HttpTransport):
    def __init__(self, options):
        super().__init__(options)
        self.requests: list[SentRequest] = []
        self._lock = threading.Lock()
        self._current = threading.local()

    def _send_request(self, body, headers, endpoint_type, envelope=None):
        items = []
        if envelope is not None:
            items = [SentItem(i.type, dict(i.headers), i.get_bytes()) for i in envelope.items]
        rec = SentRequest(headers=dict(headers), body=bytes(body), items=items)
        with self._lock:
            self.requests.append(rec)
        self._current.rec = rec
        return super()._send_request(body, headers, endpoint_type, envelope)

    def _handle_response(self, response, envelope):
        rec = getattr(self._current, "rec", None)
        if rec is not None:
            rec.status = response.status
            rec.response_headers = dict(response.headers)
        return super()._handle_response(response=response, envelope=envelope)

    def items(self, type_: str) -> list[SentItem]:
        return [i for r in self.requests for i in r.items if i.type == type_]


@contextlib.contextmanager
def sentry(dsn: str, **options) -> Iterator[RecordingTransport]:
    """sentry_sdk.init with the recording transport and nothing automatic
    (no default integrations, no client reports), so the SDK sends exactly
    what the test asks for. Flushes and closes the client on exit."""
    opts = dict(
        dsn=dsn,
        transport=RecordingTransport,
        default_integrations=False,
        auto_enabling_integrations=False,
        send_client_reports=False,
        transport_queue_size=1000,
        environment="integration",
    )
    opts.update(options)
    sentry_sdk.init(**opts)
    client = sentry_sdk.get_client()
    transport = client.transport
    assert isinstance(transport, RecordingTransport), type(transport)
    try:
        yield transport
    finally:
        client.flush(timeout=30)
        client.close(timeout=30)
