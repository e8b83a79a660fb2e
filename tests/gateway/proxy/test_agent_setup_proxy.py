"""``capbroker agent-setup ... --proxy``: the generated hooks run as each tool runs them,
and the agent's unmodified tool (curl with Railway's real host) goes through the forward
proxy: Claude Code (SessionStart into ``$CLAUDE_ENV_FILE``, the Bash tool sourcing it, the
guard in proxy mode), Cursor's cloud agents (``.cursor/environment.json``'s ``start``,
then a shell reading ~/.bashrc), Codex (its config lets the proxy variables through)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from broker.demo.world import RAILWAY_STAGING
from tests.gateway.proxy.proxy_stack import ProxyStack
from tests.gateway.proxy.test_exec_proxy import READ, ROOT, URL
from tests.gateway.proxy.test_session_proxy import bash
from tests.support.railway_stack import TEMPLATE
from tests.support.servers import HOST

CAPBROKER = f"{shlex.quote(sys.executable)} -m broker.cli.main"
CURL = (
    f"curl -s -o /dev/null -w '%{{http_code}}' -H 'content-type: application/json'"
    f" --data-binary {shlex.quote(json.dumps(READ))} {URL}"
)


def base_env(home: Path, **more: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT), **more}


def setup(px: ProxyStack, project: Path, tool: str, *extra: str) -> None:
    credential = project.parent / "credential"
    credential.write_text(px.agent)
    credential.chmod(0o600)
    argv = [sys.executable, "-m", "broker.cli.main", "agent-setup", tool]
    argv += ["--template", TEMPLATE, "--env", RAILWAY_STAGING, "--provider", "railway"]
    argv += ["--url", px.broker_url, "--gateway", px.url, "--capbroker", CAPBROKER]
    argv += ["--proxy", f"http://{HOST}:{px.proxy_port}", "--ca", str(px.ca_file)]
    argv += ["--providers", str(px.providers_file), "--credential-file", str(credential)]
    done = subprocess.run(
        [*argv, *extra],
        capture_output=True,
        text=True,
        cwd=project,
        env=base_env(project.parent),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_claude_code_with_the_proxy_reaches_railways_real_host(
    px: ProxyStack, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    setup(px, project, "claude-code")
    settings = json.loads((project / ".claude/settings.json").read_text())
    hooks = {e: settings["hooks"][e][-1]["hooks"][0]["command"] for e in settings["hooks"]}
    env_file = tmp_path / "claude-env.sh"
    event = json.dumps({"session_id": "cc-1", "hook_event_name": "SessionStart"})
    env = base_env(tmp_path, CLAUDE_ENV_FILE=str(env_file), CLAUDE_PROJECT_DIR=str(project))
    started = bash(hooks["SessionStart"], project, env, event)
    assert started.returncode == 0, started.stderr
    assert started.stdout == ""  # the session started: nothing for the agent's context
    assert "HTTPS_PROXY=" in env_file.read_text()
    assert px.agent not in env_file.read_text()
    # The Bash tool: source the file, run the unmodified command against the real host.
    called = bash(f'source "{env_file}"\n{CURL}', project, base_env(tmp_path))
    assert called.stdout == "200", called.stderr
    assert px.seen()
    guard = hooks["PreToolUse"]
    for command, code in ((CURL, 0), (f"curl --noproxy '*' {URL}", 2)):
        tool_input = json.dumps({"tool_name": "Bash", "tool_input": {"command": command}})
        assert bash(guard, project, base_env(tmp_path), tool_input).returncode == code, command
    ended = bash(hooks["SessionEnd"], project, env, json.dumps({"hook_event_name": "SessionEnd"}))
    assert ended.returncode == 0, ended.stderr


def test_cursor_cloud_start_gives_the_agents_shells_the_proxied_session(
    px: ProxyStack, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".cursor").mkdir()
    (project / ".cursor/environment.json").write_text('{"install": "npm ci"}')
    setup(px, project, "cursor", "--cloud")
    environment = json.loads((project / ".cursor/environment.json").read_text())
    assert environment["install"] == "npm ci"  # kept: no token is made where it is cached
    home = tmp_path / "vm-home"
    home.mkdir()
    # Cursor runs start on the VM; the credential is one of the environment's secrets.
    started = bash(
        environment["start"], project, base_env(home, CAPBROKER_AGENT_CREDENTIAL=px.agent)
    )
    assert started.returncode == 0, started.stderr
    assert "no provider session" not in started.stdout
    session_env = (home / ".capbroker-session.env").read_text()
    assert "HTTPS_PROXY=" in session_env
    assert px.agent not in session_env
    # the agent's shell reads ~/.bashrc; a second start does not add the line again
    assert (
        bash(
            environment["start"], project, base_env(home, CAPBROKER_AGENT_CREDENTIAL=px.agent)
        ).returncode
        == 0
    )
    assert (home / ".bashrc").read_text().count("capbroker-session.env") == 1
    called = bash(f". {home / '.bashrc'}\n{CURL}", project, base_env(home))
    assert called.stdout == "200", called.stderr
    no_credential = bash(environment["start"], project, base_env(home))
    assert "no provider session was started" in no_credential.stdout


def test_codex_config_lets_the_proxy_variables_through(px: ProxyStack, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    setup(px, project, "codex")
    config = tomllib.loads((project / ".codex/config.toml").read_text())
    allowed = set(config["shell_environment_policy"]["include_only"])
    wanted = {"HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"}
    assert wanted | {"RAILWAY_API_TOKEN", "RAILWAY_TOKEN"} <= allowed
