"""The HTTP server side of the gateway: uvicorn with httptools, made to refuse in problem+json.

httptools rejects malformed framing (two Content-Lengths, a length with chunking, a
lower-case method) before any app code runs, and uvicorn answers in plain text. The
contract says every refusal is problem+json with a reason code, so this protocol answers
those too. Nothing is forwarded either way.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = json.dumps(
    {
        "type": "https://capbroker.dev/problems/invalid_request",
        "title": "Invalid request",
        "status": 400,
        "detail": "the request is not valid HTTP/1.1",
        "code": "invalid_request",
        "refusal": "malformed_http",
    }
).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\n"
            b"content-type: application/problem+json\r\n"
            b"cache-control: no-store\r\n"
            b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _BODY
        )
        self.transport.close()
