"""``capbroker exec --proxy``: an unmodified command (curl, a requests script sending its
token variable the way the Railway CLI does) reaches Railway's real host through the
proxy with nothing but the environment exec gives it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from broker.demo.railway import IDS
from broker.demo.world import RAILWAY_STAGING
from tests.gateway.proxy.proxy_stack import RAILWAY_HOST, ProxyStack
from tests.support.railway_stack import TEMPLATE
from tests.support.servers import HOST

ROOT = Path(__file__).resolve().parents[3]
URL = f"https://{RAILWAY_HOST}/graphql/v2"
READ = {"query": "query($id: String!) { project(id: $id) { name } }", "variables": {"id": IDS.shop}}
INCIDENT = {
    "query": "mutation($v: String!) { volumeDelete(volumeId: $v) }",
    "variables": {"v": IDS.shared_volume},
}
# The Railway CLI's way: its token variable as a Bearer token, the public host compiled in.
SCRIPT = """
import json, os, sys, requests
body = json.loads(sys.argv[1])
token = os.environ["RAILWAY_API_TOKEN"]
r = requests.post(sys.argv[2], json=body, headers={"Authorization": "Bearer " + token})
seen = {k: os.environ.get(k, "") for k in sys.argv[3:]}
print(json.dumps({"status": r.status_code, "body": r.json(), "env": seen}))
"""
TRUST_VARS = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"]


def capbroker_exec(
    px: ProxyStack, *command: str, **more_env: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **more_env,
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "PYTHONPATH": str(ROOT),
        "CAPBROKER_AGENT_CREDENTIAL": px.agent,
    }
    argv = [sys.executable, "-m", "broker.cli.main", "exec", "--url", px.broker_url]
    argv += ["--proxy", f"http://{HOST}:{px.proxy_port}", "--ca", str(px.ca_file)]
    argv += ["--providers", str(px.providers_file)]
    argv += ["--template", TEMPLATE, "--env", RAILWAY_STAGING, "--", *command]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_curl_under_exec_proxy_reads_and_is_refused_the_incident(px: ProxyStack) -> None:
    curl = ["/usr/bin/curl", "-sS", "-H", "content-type: application/json", URL, "--data-binary"]
    read = capbroker_exec(px, *curl, json.dumps(READ))
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["data"]["project"]["name"] == "shop"
    px.reset()
    refused = capbroker_exec(px, *curl, json.dumps(INCIDENT))
    assert json.loads(refused.stdout)["code"] == "environment_not_granted", refused.stdout
    assert not [e for e in px.seen() if "volumeDelete" in (e["body"] or "")]
    assert px.master_key not in read.stdout + read.stderr + refused.stdout + refused.stderr


def test_a_requests_script_sends_its_token_variable_and_sees_no_credential(
    px: ProxyStack,
) -> None:
    names = ["RAILWAY_TOKEN", "CAPBROKER_AGENT_CREDENTIAL", "HTTPS_PROXY", "NODE_EXTRA_CA_CERTS"]
    names.append("NO_PROXY")
    ran = capbroker_exec(
        px,
        *(sys.executable, "-c", SCRIPT, json.dumps(READ), URL, *TRUST_VARS, *names),
        NO_PROXY="*,api.anthropic.com,.railway.com",  # the caller's: a way around the proxy
    )
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["status"] == 200, out
    assert out["body"]["data"]["project"]["name"] == "shop"
    env = out["env"]
    assert env["CAPBROKER_AGENT_CREDENTIAL"] == ""  # the agent credential stays out
    assert env["RAILWAY_TOKEN"]
    assert env["HTTPS_PROXY"] == f"http://capbroker:{env['RAILWAY_TOKEN']}@{HOST}:{px.proxy_port}"
    assert env["NODE_EXTRA_CA_CERTS"] == str(px.ca_file)
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1,api.anthropic.com"
    bundles = {env[v] for v in TRUST_VARS}
    assert len(bundles) == 1  # one bundle: the system's CAs and capbroker's
    assert not Path(bundles.pop()).exists()  # removed when the command ended
    assert px.agent not in ran.stdout + ran.stderr
