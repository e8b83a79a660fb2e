"""The real ``capbroker gateway serve --proxy-port`` process (uvloop, signals, the CA made
in the data dir's secret store) with the demo provider behind a public-looking host."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import PROVIDER, cli, demo_stack
from tests.support.servers import HOST, free_port

pytestmark = pytest.mark.slow
DEMO_HOST = "api.railway-demo.test"


def test_gateway_serve_with_a_proxy_port_answers_curl_by_host(tmp_path: Path) -> None:
    with demo_stack(tmp_path) as stack:
        doc = yaml.safe_load(stack.providers.read_text())
        doc["providers"][0]["hosts"] = [DEMO_HOST]
        stack.providers.write_text(yaml.safe_dump(doc))
        proxy_port = free_port()
        url, gateway = stack.start_gateway("--proxy-port", str(proxy_port))
        ca = cli(stack.data, "gateway", "ca")
        assert ca.returncode == 0, ca.stderr
        ca_file = tmp_path / "ca.pem"
        ca_file.write_text(ca.stdout)
        token = stack.token_headers()["Authorization"].removeprefix("Bearer ")
        argv = ["/usr/bin/curl", "-sS", "--proxy", f"http://capbroker:{token}@{HOST}:{proxy_port}"]
        argv += ["--cacert", str(ca_file), "-H", "content-type: application/json"]
        argv += ["--data-binary", json.dumps({"query": "{ projects { id } }"})]
        done = subprocess.run(
            [*argv, f"https://{DEMO_HOST}/graphql"],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, (done.stderr, gateway.log_tail())
        assert "projects" in json.loads(done.stdout)["data"]
        assert url.endswith(f"/{PROVIDER}/graphql")  # path mode still answers beside it
    assert "forward proxy on" in gateway.output()
    assert token not in gateway.output()
