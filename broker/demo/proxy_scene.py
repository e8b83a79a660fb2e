"""``capbroker demo --proxy``: the incident once more, from an unmodified tool.

The gateway also listens as an HTTPS forward proxy answering for Railway's real host,
``backboard.railway.com`` (its upstream is the local replica, so nothing leaves the
machine). A tool that only knows the provider's public host is given ``HTTPS_PROXY``
with a capability token as the proxy password and capbroker's CA; ``curl`` (or, without
it, httpx) then makes the incident's call to Railway's host, and it is refused exactly as
in path mode. Unnamed hosts and a CONNECT without a token are refused at the proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from broker.demo.railway import IDS

RAILWAY_HOST = "backboard.railway.com"
GRAPHQL_URL = f"https://{RAILWAY_HOST}/graphql/v2"
OTHER_HOST_URL = "https://api.github.com/user"


@dataclass(frozen=True)
class ProxyAccess:
    host: str
    port: int
    ca_pem: str

    def url(self, token: str | None) -> str:
        return (
            f"http://capbroker:{token}@{self.host}:{self.port}"
            if token
            else (f"http://{self.host}:{self.port}")
        )


def proxy_scene(say: Callable[[str], None], proxy: ProxyAccess, token: str) -> bool:
    """Step 6 of the demo: the same calls from a tool that knows only Railway's host."""
    with tempfile.TemporaryDirectory(prefix="capbroker-demo-ca-") as tmp:
        ca_file = Path(tmp) / "capbroker-ca.pem"
        ca_file.write_text(proxy.ca_pem)
        client = _Curl(proxy, ca_file) if shutil.which("curl") else _Httpx(proxy, ca_file)
        say(f"6. An unmodified tool ({client.name}) calls Railway's real host through the proxy:")
        say(f"   HTTPS_PROXY=http://capbroker:<token>@{proxy.host}:{proxy.port}, CA {ca_file.name}")
        read = json.dumps(
            {
                "query": "query($id: String!) { project(id: $id) { name } }",
                "variables": {"id": IDS.shop},
            }
        )
        delete = json.dumps(
            {
                "query": "mutation($v: String!) { volumeDelete(volumeId: $v) }",
                "variables": {"v": IDS.shared_volume},
            }
        )
        checks = [
            (
                "read project shop at backboard.railway.com",
                "200",
                client.post(token, GRAPHQL_URL, read),
            ),
            (
                "THE INCIDENT's volumeDelete at backboard.railway.com",
                "environment_not_granted",
                client.post(token, GRAPHQL_URL, delete),
            ),
            (
                "a host no provider names (api.github.com)",
                "403",
                client.post(token, OTHER_HOST_URL, "{}"),
            ),
            ("a CONNECT without the token", "407", client.post(None, GRAPHQL_URL, read)),
        ]
    held = True
    for title, expect, got in checks:
        ok = got == expect
        held &= ok
        say(
            f"   [{'ok ' if ok else 'FAIL'}] {title} -> {got}"
            + ("" if ok else f" (expected {expect})")
        )
    return held


class _Curl:
    name = "curl"

    def __init__(self, proxy: ProxyAccess, ca_file: Path) -> None:
        self.proxy, self.ca_file = proxy, ca_file

    def post(self, token: str | None, url: str, body: str) -> str:
        """The answer's reason code, its HTTP status, or the CONNECT's refusal status."""
        # The token travels in the environment (HTTPS_PROXY), never in argv.
        env = {**os.environ, "HTTPS_PROXY": self.proxy.url(token), "NO_PROXY": ""}
        argv = [
            "curl", "-s", "--cacert", str(self.ca_file), "-H", "Content-Type: application/json",
            "--data-binary", "@-", "-w", "\n%{http_code} %{http_connect}", url,
        ]  # fmt: skip
        ran = subprocess.run(  # noqa: S603 (a fixed argv: curl and the demo's own values)
            argv, input=body, capture_output=True, text=True, env=env, timeout=20, check=False
        )
        text, _, codes = ran.stdout.rpartition("\n")
        status, _, connect = codes.partition(" ")
        if connect not in ("", "000", "200"):
            return connect  # the proxy refused the tunnel itself
        return _code(status, text)


class _Httpx:
    name = "httpx (curl not found)"

    def __init__(self, proxy: ProxyAccess, ca_file: Path) -> None:
        self.proxy, self.ca_file = proxy, ca_file

    def post(self, token: str | None, url: str, body: str) -> str:
        try:
            with httpx.Client(proxy=self.proxy.url(token), verify=str(self.ca_file)) as client:
                r = client.post(url, content=body, headers={"Content-Type": "application/json"})
        except httpx.ProxyError as exc:
            return str(exc).rsplit(" ", 1)[-1] if str(exc) else "proxy-error"
        return _code(str(r.status_code), r.text)


def _code(status: str, text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return status
    if isinstance(body, dict) and "code" in body and status != "200":
        return str(body["code"])
    return status
