"""The integration files as pure functions: options and the existing file in, content out."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tomllib

import pytest

from broker.agents import claude_code, codex, cursor, mcp_config
from broker.agents.sessions import render
from broker.agents.setup import SetupOptions
from broker.agents.shell_guard import judge

OPTIONS = SetupOptions(
    "shop-staging-agent",
    "proj-shop/staging",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8081",
    provider="railway",
    hosts=("backboard.railway.com",),
)
EXISTING = {
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "SessionStart": [{"hooks": [{"type": "command", "command": "echo hello"}]}],
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint"}]}],
    },
}


def test_claude_code_merge_keeps_what_is_there_and_replaces_only_its_own() -> None:
    once = json.loads(claude_code.merge(json.dumps(EXISTING), OPTIONS))
    assert once["permissions"] == EXISTING["permissions"]
    kept, guard = once["hooks"]["PreToolUse"]
    assert kept == EXISTING["hooks"]["PreToolUse"][0]
    assert guard["matcher"] == "Bash"
    assert "guard-shell --for claude-code" in guard["hooks"][0]["command"]
    starts = [h["command"] for e in once["hooks"]["SessionStart"] for h in e["hooks"]]
    assert starts[0] == "echo hello"
    assert '>> "$CLAUDE_ENV_FILE"' in starts[1]
    assert "--format env" in starts[1]
    assert "session end" in once["hooks"]["SessionEnd"][0]["hooks"][0]["command"]
    twice = json.loads(claude_code.merge(json.dumps(once), OPTIONS))
    assert twice == once  # a second setup replaces its hooks, it does not add more
    other = SetupOptions("t", "e", "http://b", "http://g", capbroker="/opt/py -m broker.cli.main")
    again = json.loads(claude_code.merge(json.dumps(once), other))
    assert [len(again["hooks"][e]) for e in ("SessionStart", "SessionEnd", "PreToolUse")] == [
        2,
        1,
        2,
    ]  # however capbroker is run, its entries are replaced, the user's kept


@pytest.mark.parametrize("bad", ["[1]", "{", '{"hooks": []}', '{"hooks": {"SessionEnd": {}}}'])
def test_claude_code_refuses_settings_it_cannot_merge(bad: str) -> None:
    with pytest.raises(claude_code.SettingsError):
        claude_code.merge(bad, OPTIONS)


def test_the_hook_commands_quote_their_values() -> None:
    odd = SetupOptions("t; rm -rf ~", "e", "http://b", "http://g")
    out = subprocess.run(
        ["sh", "-c", f"printf '%s\\n' {odd.start_command('env').split(' --template ', 1)[1]}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.splitlines()[0] == "t; rm -rf ~"


def test_cursor_hooks_file() -> None:
    existing = {"version": 1, "hooks": {"afterFileEdit": [{"command": "fmt"}]}}
    doc = json.loads(cursor.merge(json.dumps(existing), OPTIONS))
    assert doc["version"] == 1
    assert doc["hooks"]["afterFileEdit"] == [{"command": "fmt"}]
    assert "--format cursor" in doc["hooks"]["sessionStart"][0]["command"]
    guard = doc["hooks"]["beforeShellExecution"][0]["command"]
    assert "session guard-shell --for cursor --host backboard.railway.com" in guard
    assert "--protect capbroker/agent-credential --protect CAPBROKER_AGENT_CREDENTIAL" in guard
    assert json.loads(cursor.merge(json.dumps(doc), OPTIONS)) == doc
    with pytest.raises(cursor.HooksError):
        cursor.merge('{"version": 2, "hooks": {}}', OPTIONS)


def test_codex_config_lets_exactly_the_session_variables_through() -> None:
    text = codex.merge('model = "gpt-5"\n', OPTIONS)
    doc = tomllib.loads(text)
    assert doc["model"] == "gpt-5"
    policy = doc["shell_environment_policy"]
    # Codex's default excludes drop *TOKEN*: they are off, and include_only is the list.
    assert policy["ignore_default_excludes"] is True
    assert {"RAILWAY_API_URL", "RAILWAY_TOKEN", "CAPBROKER_SESSION_ID"} <= set(
        policy["include_only"]
    )
    assert not any("CREDENTIAL" in n or n[0] == "*" for n in policy["include_only"])
    assert doc["sandbox_workspace_write"]["network_access"] is True
    assert codex.merge(text, OPTIONS) == text
    assert doc["mcp_servers"]["capbroker"] == {"command": "capbroker", "args": ["mcp"]}
    with pytest.raises(codex.ConfigError):
        codex.merge('[shell_environment_policy]\ninherit = "core"\n', OPTIONS)


def test_codex_keeps_other_mcp_servers_and_adds_only_missing_tables() -> None:
    other_server = '[mcp_servers.docs]\ncommand = "docs-mcp"\n\n'
    existing = other_server + "[sandbox_workspace_write]\nnetwork_access = true\n"
    doc = tomllib.loads(codex.merge(existing, OPTIONS))  # valid TOML: no table twice
    assert set(doc["mcp_servers"]) == {"docs", "capbroker"}
    assert "shell_environment_policy" in doc
    assert codex.launcher(OPTIONS).endswith(" -- codex")


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        ('curl -H "Authorization: Bearer $RAILWAY_TOKEN" "$RAILWAY_API_URL/graphql/v2"', True),
        (
            "curl -H 'Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl' $RAILWAY_API_URL",
            True,
        ),
        ("npm test", True),
        ('curl -H "Authorization: Bearer 5f2c9a0e-1111-4222-8333-944445555666" $U', False),
        ("RAILWAY_TOKEN=5f2c9a0e11114222 railway up", False),
        ("curl -H 'Project-Access-Token: abcdefgh12345678' https://x", False),
        ("curl https://backboard.railway.com/graphql/v2", False),
        ("curl https://BACKBOARD.railway.com/graphql/v2", False),
    ],
)
def test_the_shell_guard(command: str, allowed: bool) -> None:
    assert judge(command, ("backboard.railway.com",)).allowed is allowed


def test_env_lines_source_to_the_exact_values() -> None:
    values = {"A_TOKEN": 'x\'y "z" $HOME `id`', "CAPBROKER_SESSION_ID": "s1"}
    out = subprocess.run(
        ["bash", "-c", f'{render(values, "env")}\nprintf "%s" "$A_TOKEN"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == values["A_TOKEN"]
    assert json.loads(render(values, "cursor")) == {"env": values}


def test_mcp_json_keeps_other_servers() -> None:
    odd = SetupOptions("t", "e", "http://b", "http://g", capbroker="/opt/py -m broker.cli.main")
    doc = json.loads(mcp_config.merge('{"mcpServers": {"docs": {"command": "d"}}}', odd))
    assert doc["mcpServers"]["docs"] == {"command": "d"}
    assert doc["mcpServers"]["capbroker"] == {
        "command": "/opt/py",
        "args": ["-m", "broker.cli.main", "mcp"],
    }
    with pytest.raises(mcp_config.McpConfigError):
        mcp_config.merge('{"mcpServers": []}', odd)


def test_the_shell_guard_keeps_the_agent_credential_out_of_commands() -> None:
    protected = ("capbroker/agent-credential", "CAPBROKER_AGENT_CREDENTIAL")
    for command in (
        "cat ~/.config/capbroker/agent-credential",
        'echo "$CAPBROKER_AGENT_CREDENTIAL"',
    ):
        assert not judge(command, (), protected).allowed
    assert judge("capbroker session status", (), protected).allowed


PROXIED = dataclasses.replace(
    OPTIONS,
    proxy="http://127.0.0.1:8443",
    ca="/etc/capbroker/ca.pem",
    providers="/etc/capbroker/providers.yaml",
    token_vars=("RAILWAY_API_TOKEN", "RAILWAY_TOKEN"),
)


def test_with_the_proxy_every_command_carries_its_options_and_the_guard_its_mode() -> None:
    start = PROXIED.start_command("env")
    assert "--proxy http://127.0.0.1:8443 --ca /etc/capbroker/ca.pem" in start
    assert "--providers /etc/capbroker/providers.yaml" in start
    assert "--proxy http://127.0.0.1:8443" in PROXIED.exec_command("codex")
    assert PROXIED.guard_command("cursor").endswith(" --proxied")
    assert "--proxied" not in OPTIONS.guard_command("cursor")
    assert "--credential-file" not in PROXIED.start_command("env", credential_from_env=True)


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        ("curl https://backboard.railway.com/graphql/v2 -X POST -d @q.json", True),
        ("railway status", True),
        ("bash -x build.sh && sort -k2 out.txt", True),
        ("curl --noproxy '*' https://backboard.railway.com/", False),
        ("HTTPS_PROXY= railway status", False),
        ("unset https_proxy; railway up", False),
        ("env -u HTTPS_PROXY railway status", False),
        ("curl -k https://backboard.railway.com/", False),
        ("git -c http.sslVerify=false push", False),
        ("export NODE_TLS_REJECT_UNAUTHORIZED=0", False),
    ],
)
def test_the_shell_guard_in_proxy_mode(command: str, allowed: bool) -> None:
    assert judge(command, ("backboard.railway.com",), proxied=True).allowed is allowed


def test_cursor_environment_json_gets_capbrokers_start_and_keeps_the_rest() -> None:
    once = json.loads(cursor.merge_environment('{"install": "npm ci"}', PROXIED))
    assert once["install"] == "npm ci"
    assert "session start" in once["start"]
    assert "--credential-file" not in once["start"]  # a cloud secret, from the environment
    assert '> "$HOME/.capbroker-session.env"' in once["start"]
    assert json.loads(cursor.merge_environment(json.dumps(once), PROXIED)) == once
    with pytest.raises(cursor.HooksError, match="merge by hand"):
        cursor.merge_environment('{"start": "docker compose up"}', PROXIED)
    with pytest.raises(cursor.HooksError):
        cursor.merge_environment("[]", PROXIED)


def test_codex_lets_the_proxy_variables_through_only_with_the_proxy() -> None:
    proxied = tomllib.loads(codex.merge(None, PROXIED))["shell_environment_policy"]
    plain = tomllib.loads(codex.merge(None, OPTIONS))["shell_environment_policy"]
    extra = set(proxied["include_only"]) - set(plain["include_only"])
    assert {"HTTPS_PROXY", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "RAILWAY_API_TOKEN"} <= extra
    assert "HTTPS_PROXY" not in plain["include_only"]
