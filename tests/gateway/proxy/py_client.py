"""An unmodified Python tool calling a provider's public host: ``requests`` or ``httpx``
configured by the environment alone (HTTPS_PROXY with Basic credentials in the URL,
REQUESTS_CA_BUNDLE for requests, SSL_CERT_FILE for httpx), as ``capbroker exec --proxy``
sets it. Run as ``python py_client.py requests|httpx METHOD URL [BODY]``; prints
``{status, headers, body}`` (or ``{status: 0, error}``) as JSON."""

from __future__ import annotations

import json
import os
import sys


def main(library: str, method: str, url: str, body: str = "") -> dict[str, object]:
    headers = {"content-type": "application/json"}
    if os.environ.get("RAILWAY_API_TOKEN"):  # the tool's own token variable, sent along
        headers["authorization"] = f"Bearer {os.environ['RAILWAY_API_TOKEN']}"
    try:
        if library == "requests":
            import requests

            answer = requests.request(method, url, data=body, headers=headers, timeout=15)
            status, text, seen = answer.status_code, answer.text, dict(answer.headers)
        else:
            import httpx

            with httpx.Client(timeout=15) as client:  # trust_env: proxy and CA from the env
                reply = client.request(method, url, content=body, headers=headers)
            status, text, seen = reply.status_code, reply.text, dict(reply.headers)
    except Exception as exc:  # what the tool would show its user
        return {"status": 0, "error": f"{type(exc).__name__}: {exc}"}
    return {"status": status, "headers": seen, "body": text}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
