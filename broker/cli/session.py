"""``capbroker session start|end|status``: an agent's session, for hooks and shells.

``start`` requests a token (as ``capbroker exec`` does, broker/cli/agent.py), prints the
variables an agent's environment needs and keeps a session record (broker/agents/sessions.py)
for ``end``, ``status`` and ``capbroker mcp``. The agent credential is read from an
environment variable or a file, never from an argument, and is never printed or recorded.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx

from broker.agents import sessions
from broker.agents.sessions import FORMATS, Format, SessionRecord
from broker.agents.shell_guard import Verdict, judge
from broker.cli.agent import (
    CREDENTIAL_ENV,
    _actions,
    _credential,
    _env,
    _template,
    _ttl,
    _url,
    end_session,
    provider_variables,
    request_token,
)
from broker.cli.proxy_env import (
    ca_option,
    checked_proxy,
    load_provider_routes,
    providers_option,
    proxy_variables,
)
from broker.services.usage import BUDGETS_USED

_credential_env = click.option(
    "--credential-env",
    default=CREDENTIAL_ENV,
    show_default=True,
    help="Environment variable holding the agent credential.",
)
_credential_file = click.option(
    "--credential-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CAPBROKER_AGENT_CREDENTIAL_FILE",
    help="File holding the agent credential, readable by its owner only "
    "(also CAPBROKER_AGENT_CREDENTIAL_FILE; wins over --credential-env).",
)
_DEFAULT_URL = "http://127.0.0.1:8080"
_hook_input = click.option(
    "--hook-input",
    is_flag=True,
    help="Read the agent tool's hook JSON on stdin and keep this tool session's own record "
    "(several sessions in one project).",
)


def _own_record(record_file: Path | None, hook_input: bool) -> Path:
    """The record this command writes or ends: an explicit one, else the tool session's
    own (``--hook-input`` with a session id in it), else the project's default."""
    base = sessions.record_path(record_file, os.environ)
    explicit = record_file is not None or bool(os.environ.get(sessions.RECORD_ENV))
    key = sessions.hook_key(sys.stdin.read()) if hook_input else None
    return sessions.keyed_path(base, key) if key and not explicit else base


_record = click.option(
    "--record",
    "record_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The session record (default ${sessions.RECORD_ENV} or {sessions.DEFAULT_RECORD}).",
)


def read_credential(credential_env: str, credential_file: Path | None) -> str:
    """From the file when one is named (refused if others may read it), else the variable."""
    if credential_file is None:
        return _credential(credential_env)
    try:
        mode = credential_file.stat().st_mode
        text = credential_file.read_text().strip()
    except OSError as exc:
        problem = f"cannot read the credential file {credential_file}: {exc.strerror}"
        raise click.UsageError(problem) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise click.UsageError(f"{credential_file} may be read by others: chmod 600 it")
    if not text:
        raise click.UsageError(f"the credential file {credential_file} is empty")
    return text


@click.group()
def session() -> None:
    """Start, end and inspect an agent's session (for agent hooks and shells)."""


@session.command("start")
@_url
@click.option(
    "--gateway",
    "gateway_url",
    required=True,
    envvar="CAPBROKER_GATEWAY_URL",
    help="The gateway's URL (also CAPBROKER_GATEWAY_URL).",
)
@_template
@_env
@_actions
@_ttl
@_credential_env
@_credential_file
@_record
@click.option(
    "--proxy",
    envvar="CAPBROKER_PROXY_URL",
    help="Also the gateway's forward proxy, http://HOST:PORT (also CAPBROKER_PROXY_URL): "
    "the proxy and CA variables are printed too.",
)
@ca_option
@providers_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="env", show_default=True)
@click.option("--replace", is_flag=True, help="End the recorded session first, if any.")
@_hook_input
def start(
    url: str,
    gateway_url: str,
    template: str,
    environment: str,
    actions: tuple[str, ...],
    ttl: int | None,
    credential_env: str,
    credential_file: Path | None,
    record_file: Path | None,
    proxy: str | None,
    ca: Path | None,
    providers_file: Path | None,
    fmt: Format,
    replace: bool,
    hook_input: bool,
) -> None:
    """Request a token for a new session; print the provider's URL and token variables
    (pointed at the gateway), with --proxy the proxy and CA variables too, and
    CAPBROKER_SESSION_ID. A refusal prints nothing on stdout."""
    address = checked_proxy(gateway_url, proxy, ca)  # before any session starts
    routes = load_provider_routes(providers_file)
    credential = read_credential(credential_env, credential_file)
    path = _own_record(record_file, hook_input)
    previous = sessions.load(path) if replace else None
    if previous is not None:
        end_session(previous.broker_url, credential, previous.session_id)
    data = request_token(url, credential, template, environment, actions, ttl, purpose="tools")
    variables = provider_variables(data, gateway_url, None, None)
    provider = data["authorization_details"][0]["provider"]
    if address is not None and ca is not None:
        sessions.prepare_directory(path)
        inherited = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
        variables |= proxy_variables(
            address, ca, data["access_token"], routes, provider,
            directory=path.parent.resolve(), inherited_no_proxy=inherited,
        )  # fmt: skip
    stem = provider.upper().replace("-", "_")
    record = SessionRecord(
        session_id=data["session_id"],
        provider=provider,
        template=template,
        environment=data["environment"],
        expires_at=time.time() + data["expires_in"],
        broker_url=url,
        gateway_url=gateway_url,
        token_var=f"{stem}_TOKEN",
        url_var=f"{stem}_API_URL",
        variables=variables,
    )
    sessions.save(path, record)
    click.echo(sessions.render(variables, fmt))
    click.echo(
        f"capbroker: session {record.session_id[:8]} for {provider}/{record.environment}, "
        f"token expires in {data['expires_in']}s",
        err=True,
    )


@session.command("end")
@click.option(
    "--url", envvar="CAPBROKER_URL", help="The broker's URL (default: the recorded session's)."
)
@click.option("--session", "session_id", help="The session (default: the recorded one).")
@_credential_env
@_credential_file
@_record
@_hook_input
def end(
    url: str | None,
    session_id: str | None,
    credential_env: str,
    credential_file: Path | None,
    record_file: Path | None,
    hook_input: bool,
) -> None:
    """End a session: every token issued in it is revoked at once."""
    path = _own_record(record_file, hook_input)
    if path == sessions.record_path(record_file, os.environ):  # not a tool session's own
        path, record = sessions.locate(path, os.environ, session_id)
    else:
        record = sessions.load(path)
    chosen = session_id or (record.session_id if record else None)
    chosen = chosen or os.environ.get(sessions.SESSION_ENV)
    if not chosen:
        raise click.UsageError("no session to end: pass --session or start one first")
    broker_url = url or (record.broker_url if record else _DEFAULT_URL)
    if not end_session(broker_url, read_credential(credential_env, credential_file), chosen):
        click.echo(f"capbroker: error: the broker did not end session {chosen[:8]}", err=True)
        sys.exit(3)
    if record is not None and record.session_id == chosen:
        path.unlink(missing_ok=True)
    click.echo(f"capbroker: session {chosen[:8]} ended", err=True)


@session.command("status")
@_credential_env
@_credential_file
@_record
@click.option("--json", "as_json", is_flag=True)
def status(
    credential_env: str, credential_file: Path | None, record_file: Path | None, as_json: bool
) -> None:
    """What the recorded session's token allows and how long it has left (exit 1 if none
    is active)."""
    _, record = sessions.locate(sessions.record_path(record_file, os.environ), os.environ)
    if record is None:
        click.echo("capbroker: no session: run `capbroker session start`", err=True)
        sys.exit(1)
    answer = introspect(record, read_credential(credential_env, credential_file))
    click.echo(json.dumps(answer, indent=2, sort_keys=True) if as_json else _human(answer))
    sys.exit(0 if answer["active"] else 1)


def introspect(record: SessionRecord, credential: str) -> dict[str, Any]:
    """The broker's RFC 7662 view of the recorded token, reduced to what an agent needs."""
    try:
        answer = httpx.post(
            f"{record.broker_url.rstrip('/')}/oauth/introspect",
            data={"token": record.token},
            headers={"Authorization": f"Bearer {credential}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        click.echo(f"capbroker: error: cannot reach the broker ({type(exc).__name__})", err=True)
        sys.exit(3)
    claims: dict[str, Any] = answer.json() if answer.status_code == 200 else {"active": False}
    return summary(record, claims, time.time())


def summary(record: SessionRecord, claims: dict[str, Any], now: float) -> dict[str, Any]:
    """Pure: the introspection answer as the agent reads it."""
    base = {"session_id": record.session_id, "provider": record.provider}
    if not claims.get("active"):
        return {**base, "active": False, "next": "run `capbroker session start` again"}
    detail = (claims.get("authorization_details") or [{}])[0]
    limits: dict[str, int] = detail.get("budgets", {})
    used: dict[str, int] = claims.get(BUDGETS_USED, {})
    return {
        **base,
        "active": True,
        "environments": detail.get("environments", []),
        "actions": detail.get("actions", []),
        "resources": detail.get("resources", []),
        "budgets": limits,  # the token's limits
        "budgets_used": used,  # as the gateways counted them
        "budgets_left": {k: max(0, v - used.get(k, 0)) for k, v in limits.items()},
        "approval": detail.get("approval"),
        "expires_in": max(0, int(claims.get("exp", now) - now)),
        "api_url": record.api_url,
    }


def _human(s: dict[str, Any]) -> str:
    if not s["active"]:
        return f"session {s['session_id'][:8]}: not active; {s['next']}"
    return "\n".join(
        [
            f"session {s['session_id'][:8]} for {s['provider']}, {s['expires_in']}s left",
            f"  environments: {', '.join(s['environments'])}",
            f"  actions: {', '.join(s['actions'])}",
            f"  budgets: {_budgets(s) or 'none'}",
            f"  calls go to {s['api_url']}",
        ]
    )


def _budgets(s: dict[str, Any]) -> str:
    used = s["budgets_used"]
    return ", ".join(
        f"{name} {used.get(name, 0)} of {limit} used" for name, limit in s["budgets"].items()
    )


@session.command("guard-shell")
@click.option("--host", "hosts", multiple=True, help="A provider host to keep calls away from.")
@click.option("--protect", multiple=True, help="Text no command may name (repeatable).")
@click.option("--for", "tool", type=click.Choice(["cursor", "claude-code"]), default="cursor")
@click.option("--proxied", is_flag=True, help="The session goes through the forward proxy.")
def guard_shell(hosts: tuple[str, ...], protect: tuple[str, ...], tool: str, proxied: bool) -> None:
    """A shell-command hook (Cursor ``beforeShellExecution``, Claude Code ``PreToolUse`` on
    Bash): reads the hook's JSON on stdin and allows the command, or refuses it with the
    reason (a literal credential, the provider's own host, the agent credential)."""
    verdict = judge_hook_input(sys.stdin.read(), hosts, protect, proxied=proxied)
    message = f"capbroker refused this command: it {verdict.reason}"
    if tool == "claude-code":  # exit 2 blocks the tool call; stderr goes to the agent
        if not verdict.allowed:
            click.echo(message, err=True)
            sys.exit(2)
        return
    answer = {"permission": "allow"} if verdict.allowed else {
        "permission": "deny", "user_message": message, "agent_message": message
    }  # fmt: skip
    click.echo(json.dumps(answer))


def judge_hook_input(
    raw: str, hosts: tuple[str, ...], protect: tuple[str, ...], *, proxied: bool = False
) -> Verdict:
    """Cursor sends ``command``; Claude Code ``tool_input.command``. Input that is not such
    JSON is refused: a hook that cannot read its input lets nothing run."""
    try:
        data = json.loads(raw or "{}")
        command = data.get("command", (data.get("tool_input") or {}).get("command", ""))
    except (ValueError, AttributeError):
        return Verdict(False, "came as hook input that is not JSON")
    return judge(str(command), hosts, protect, proxied=proxied)
