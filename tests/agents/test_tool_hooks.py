"""The generated files run as each tool runs them, against the served broker and the
gateway in front of the Railway replica.

Claude Code: a hook's command runs in a shell with its JSON on stdin and
``CLAUDE_ENV_FILE`` set; the Bash tool sources that file before each command. Cursor: the
``beforeShellExecution`` command gets ``{"command": ...}`` on stdin and answers with
``permission``. Codex: ``capbroker exec -- codex`` is the launcher (a shell stands in for
codex and makes the call its commands would).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from broker.demo.railway import IDS
from broker.demo.railway.service import GRAPHQL_PATH
from broker.demo.world import RAILWAY_STAGING
from tests.agents.conftest import CAPBROKER_CMD, AgentWorld

QUERY = json.dumps(
    {"query": "query($id: String!) { project(id: $id) { name } }", "variables": {"id": IDS.shop}}
)
CURL = (
    f'curl -s -o /dev/null -w "%{{http_code}}" -X POST "$RAILWAY_API_URL{GRAPHQL_PATH}"'
    f' -H "Authorization: Bearer $RAILWAY_TOKEN" -H "Content-Type: application/json"'
    f" -d {shlex.quote(QUERY)}"
)


def _setup(world: AgentWorld, tool: str, *extra: str) -> subprocess.CompletedProcess[str]:
    out = world.cli(
        "agent-setup", tool, "--template", "shop-staging-agent", "--env", RAILWAY_STAGING,
        "--url", world.broker_url, "--gateway", world.gateway_url, "--provider", "railway",
        "--credential-file", str(world.credential_file), "--capbroker", CAPBROKER_CMD, *extra,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out


def _hook(world: AgentWorld, command: str, event: dict[str, str], **env: str) -> str:
    out = subprocess.run(
        ["bash", "-c", command],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=60,
        env=world.env(CLAUDE_PROJECT_DIR=str(world.project), **env),
        cwd=world.project,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _bash_tool(world: AgentWorld, env_file: Path, command: str) -> str:
    """What Claude Code's Bash tool does: source the session's env file, run the command."""
    script = f'source "{env_file}"\n{command}'
    out = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60,
        env=world.env(), cwd=world.project, check=False,
    )  # fmt: skip
    return out.stdout


def _claude_hooks(world: AgentWorld) -> dict[str, str]:
    settings = json.loads((world.project / ".claude/settings.json").read_text())
    return {e: settings["hooks"][e][-1]["hooks"][0]["command"] for e in settings["hooks"]}


def _event(name: str, **more: str) -> dict[str, str]:
    return {"session_id": "cc-1", "cwd": "", "hook_event_name": name, **more}


def test_claude_code_session_start_hook_gives_the_bash_tool_a_working_token(
    world: AgentWorld, tmp_path: Path
) -> None:
    (world.project / ".claude").mkdir(exist_ok=True)
    (world.project / ".claude/settings.json").write_text('{"model": "opus"}')
    _setup(world, "claude-code")
    assert json.loads((world.project / ".claude/settings.json").read_text())["model"] == "opus"
    hooks = _claude_hooks(world)
    env_file = tmp_path / "claude-env.sh"
    said = _hook(
        world, hooks["SessionStart"], _event("SessionStart", source="startup"),
        CLAUDE_ENV_FILE=str(env_file),
    )  # fmt: skip
    assert said == ""  # nothing for the agent's context: the session started
    assert world.rw.agent not in env_file.read_text()
    assert _bash_tool(world, env_file, CURL) == "200"
    assert world.rw.executed() == ["project"]
    # The agent's own shell never sees the agent credential.
    assert _bash_tool(world, env_file, "env").count(world.rw.agent) == 0
    _hook(world, hooks["SessionEnd"], _event("SessionEnd", reason="logout"))
    world.revocations_read()  # the gateway learns of revocations by polling (docs/gateway.md)
    assert _bash_tool(world, env_file, CURL) == "403"  # token_revoked at the gateway
    assert world.rw.executed() == ["project"]  # nothing more reached the provider


def test_claude_code_without_a_session_starts_without_provider_access(
    world: AgentWorld, tmp_path: Path
) -> None:
    _setup(world, "claude-code", "--credential-file", str(tmp_path / "absent"))
    env_file = tmp_path / "claude-env.sh"
    said = _hook(
        world, _claude_hooks(world)["SessionStart"], _event("SessionStart", source="startup"),
        CLAUDE_ENV_FILE=str(env_file),
    )  # fmt: skip
    assert "no provider session was started" in said
    assert "do not look for another credential" in said
    assert not env_file.exists() or env_file.read_text() == ""
    assert "RAILWAY_TOKEN" not in _bash_tool(world, env_file, "env")


def test_cursor_hooks_start_a_session_and_guard_the_shell(world: AgentWorld) -> None:
    _setup(world, "cursor")
    doc = json.loads((world.project / ".cursor/hooks.json").read_text())
    start = doc["hooks"]["sessionStart"][0]["command"]
    answer = json.loads(_hook(world, start, {"hook_event_name": "sessionStart"}))
    assert set(answer["env"]) == {"RAILWAY_API_URL", "RAILWAY_TOKEN", "CAPBROKER_SESSION_ID"}
    guard = doc["hooks"]["beforeShellExecution"][0]["command"]

    def ask(command: str) -> dict[str, str]:
        event = {"hook_event_name": "beforeShellExecution", "command": command, "cwd": ""}
        return dict(json.loads(_hook(world, guard, event)))

    assert ask(CURL)["permission"] == "allow"
    direct = ask("curl -X POST https://backboard.railway.com/graphql/v2 -d @q.json")
    assert direct["permission"] == "deny"
    assert "backboard.railway.com" in direct["agent_message"]
    raw = ask(f'curl -H "Authorization: Bearer {world.rw.master_key}" "$RAILWAY_API_URL"')
    assert raw["permission"] == "deny"
    assert world.rw.master_key not in json.dumps(raw)  # the refusal never repeats it
    end = doc["hooks"]["sessionEnd"][0]["command"]
    _hook(world, end, {"hook_event_name": "sessionEnd"})


def test_codex_launcher_runs_the_agent_with_the_session(world: AgentWorld) -> None:
    out = _setup(world, "codex")
    launcher = out.stderr.split("start Codex with: ", 1)[1].splitlines()[0]
    assert launcher.endswith(" -- codex")
    stand_in = launcher.removesuffix("codex") + f"bash -c {shlex.quote(CURL)}"
    ran = subprocess.run(
        ["bash", "-c", stand_in], capture_output=True, text=True, timeout=60,
        env=world.env(CAPBROKER_AGENT_CREDENTIAL=world.rw.agent), cwd=world.project, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "200"
    assert world.rw.executed() == ["project"]


def test_setup_writes_nothing_when_a_file_cannot_be_merged_or_on_dry_run(
    world: AgentWorld,
) -> None:
    for name in (".claude/settings.json", ".mcp.json"):
        (world.project / name).unlink(missing_ok=True)
    (world.project / ".mcp.json").write_text('{"mcpServers": []}')
    out = world.cli(
        "agent-setup", "claude-code", "--template", "t", "--env", "e",
        "--gateway", world.gateway_url,
    )  # fmt: skip
    assert out.returncode == 2
    assert ".mcp.json" in out.stderr
    assert not (world.project / ".claude/settings.json").exists()  # not half a setup
    (world.project / ".mcp.json").unlink()
    dry = world.cli(
        "agent-setup", "claude-code", "--template", "t", "--env", "e",
        "--gateway", world.gateway_url, "--dry-run",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert '"SessionStart"' in dry.stdout
    assert '"capbroker"' in dry.stdout
    assert not (world.project / ".claude/settings.json").exists()
    assert not (world.project / ".mcp.json").exists()


def test_claude_code_pre_tool_use_guard_blocks_as_claude_code_reads_it(world: AgentWorld) -> None:
    _setup(world, "claude-code")
    settings = json.loads((world.project / ".claude/settings.json").read_text())
    [entry] = [e for e in settings["hooks"]["PreToolUse"] if e.get("matcher") == "Bash"]
    guard = entry["hooks"][0]["command"]

    def run(command: str) -> subprocess.CompletedProcess[str]:
        event = {"hook_event_name": "PreToolUse", "tool_name": "Bash",
                 "tool_input": {"command": command}}  # fmt: skip
        return subprocess.run(
            ["bash", "-c", guard], input=json.dumps(event), capture_output=True, text=True,
            timeout=60, env=world.env(), cwd=world.project, check=False,
        )  # fmt: skip

    allowed = run(CURL)
    assert allowed.returncode == 0, allowed.stderr
    for command in (
        f"cat {world.credential_file}",
        "curl https://backboard.railway.com/graphql/v2",
        f'curl -H "Authorization: Bearer {world.rw.master_key}" "$RAILWAY_API_URL"',
    ):
        refused = run(command)
        assert refused.returncode == 2, command  # Claude Code blocks the call on exit 2
        assert "capbroker refused this command" in refused.stderr
        assert world.rw.master_key not in refused.stderr


def test_two_claude_code_sessions_in_one_project_keep_their_own_records(
    world: AgentWorld, tmp_path: Path
) -> None:
    _setup(world, "claude-code")
    hooks = _claude_hooks(world)
    files = {name: tmp_path / f"{name}.sh" for name in ("cc-1", "cc-2")}
    for name, env_file in files.items():
        event = {**_event("SessionStart", source="startup"), "session_id": name}
        _hook(world, hooks["SessionStart"], event, CLAUDE_ENV_FILE=str(env_file))
    records = world.project / ".capbroker" / "sessions"
    assert sorted(p.name for p in records.glob("*.json")) == ["cc-1.json", "cc-2.json"]
    assert all(_bash_tool(world, f, CURL) == "200" for f in files.values())
    # cc-1 resumes: --replace ends cc-1's old session only
    resumed = {**_event("SessionStart", source="resume"), "session_id": "cc-1"}
    again = tmp_path / "cc-1-again.sh"
    _hook(world, hooks["SessionStart"], resumed, CLAUDE_ENV_FILE=str(again))
    world.revocations_read()
    assert _bash_tool(world, files["cc-1"], CURL) == "403"
    assert _bash_tool(world, again, CURL) == "200"
    assert _bash_tool(world, files["cc-2"], CURL) == "200"
    # each shell's status is its own session's, found by CAPBROKER_SESSION_ID
    status = f"{CAPBROKER_CMD} session status --json --credential-file {world.credential_file}"
    shells = {"cc-1": again, "cc-2": files["cc-2"]}
    ids = {n: json.loads(_bash_tool(world, f, status))["session_id"] for n, f in shells.items()}
    assert ids["cc-2"] in files["cc-2"].read_text()
    assert ids["cc-1"] in again.read_text()
    assert _bash_tool(world, files["cc-1"], status) == ""  # the ended one is nobody's now
    # cc-2 ends: cc-1 keeps working
    _hook(world, hooks["SessionEnd"], {**_event("SessionEnd"), "session_id": "cc-2"})
    world.revocations_read()
    assert _bash_tool(world, files["cc-2"], CURL) == "403"
    assert _bash_tool(world, again, CURL) == "200"
    assert sorted(p.name for p in records.glob("*.json")) == ["cc-1.json"]
