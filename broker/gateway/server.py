"""The HTTP server side of the gateway: uvicorn with httptools, made to refuse in problem+json,
and the factory each ``gateway serve --workers N`` process builds its gateway with.

httptools rejects malformed framing (two Content-Lengths, a length with chunking, a
lower-case method) before any app code runs, and uvicorn answers in plain text. The
contract says every refusal is problem+json with a reason code, so this protocol answers
those too. Nothing is forwarded either way.

It is the guarded protocol of both servers (``broker.httpguard``: header, body and idle
timeouts, connections per client address). A forwarded answer the provider broke off
mid-body is broken off to the client too (the app returns without its last body
message); the gateway has logged that in one line, so uvicorn's own line is dropped.

It never switches to WebSocket either: a handshake stays an HTTP request, which the app
refuses as problem+json (``upgrade_not_supported``). Left to uvicorn's WebSocket protocol,
a malformed handshake would be answered in plain text by the WebSocket library.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from broker.errors import InvalidRequest
from broker.gateway.app import Gateway
from broker.gateway.factory import build_gateway, load_providers
from broker.httpguard import GuardedHttpToolsProtocol
from broker.problems import problem_body
from broker.settings import load_settings
from broker.workers import SERVER_BASE, tune_gc

# The providers file a worker loads; set by the parent (``gateway serve``).
PROVIDERS_ENV = "CAPBROKER_GATEWAY_PROVIDERS"
# What uvicorn runs: the shared base, the gateway's own protocol, nothing it would not use.
SERVER_OPTIONS: dict[str, Any] = {
    **SERVER_BASE,
    "http": "broker.gateway.server:ProblemHttpToolsProtocol",
    "lifespan": "on",
    # The gateway reads no forwarding headers (it drops them), so uvicorn need not either.
    "proxy_headers": False,
    # Upgrades are refused by the app; no WebSocket protocol is needed to do that.
    "ws": "none",
}


def gateway_from_environment() -> Gateway:
    """One worker's gateway: its own engine, audit chain (``gateway@host:pid``), group
    commit, caches and revocation set; the parent has already checked the configuration."""
    gateway = build_gateway(load_settings(), load_providers(Path(os.environ[PROVIDERS_ENV])))
    tune_gc()
    return gateway


_BODY = json.dumps(
    problem_body(
        InvalidRequest("the request is not valid HTTP/1.1", extra={"refusal": "malformed_http"})
    )
).encode()


class _BrokenOffSaidOnce(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "ASGI callable returned without completing response."


_LOG = logging.getLogger("uvicorn.error").getChild("gateway")
_LOG.addFilter(_BrokenOffSaidOnce())


class ProblemHttpToolsProtocol(GuardedHttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if _LOG.level == logging.NOTSET:  # uvicorn's own level, set once: its checks read it
            _LOG.setLevel(self.logger.getEffectiveLevel())
        self.logger = _LOG

    def _should_upgrade_to_ws(self) -> bool:
        return False  # whatever ``ws`` says: the app refuses the handshake as a problem

    def _unsupported_upgrade_warning(self) -> None:
        """Not worth a warning: every upgrade is refused, and the refusal is audited."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\n"
            b"content-type: application/problem+json\r\n"
            b"cache-control: no-store\r\n"
            b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _BODY
        )
        self.transport.close()
