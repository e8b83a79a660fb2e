"""The agent's side of the CLI, over HTTP: ``capbroker token request`` and ``capbroker exec``.

The agent credential is read from an environment variable, never from an argument
(arguments show in ``ps``), and is never passed on to the command ``exec`` runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click
import httpx

from broker.cli.proxy_env import ca_option, providers_option

CREDENTIAL_ENV = "CAPBROKER_AGENT_CREDENTIAL"


def _credential(credential_env: str) -> str:
    credential = os.environ.get(credential_env)
    if not credential:
        raise click.UsageError(f"set {credential_env} to the agent credential")
    return credential


# Why a DPoP refusal, for each way of asking (docs/tokens.md, DPoP and the CLI).
DPOP_HINTS = {
    "tools": "the template requires DPoP-bound tokens, and the tools this command hands the"
    " token to cannot sign a DPoP proof for each call; use an SDK-level client that holds"
    " the key and signs proofs (RFC 9449, docs/tokens.md), or a template without require_dpop",
    "request": "the template requires DPoP-bound tokens: pass --dpop-key FILE (your private"
    " JWK) to bind the token; every call with it then needs a proof by that key",
}


def dpop_proof(key_file: Path, url: str) -> str:
    """A DPoP proof for POST ``url`` by the private JWK in ``key_file`` (a usage error
    names the file, never its content)."""
    from broker.tokens import InvalidKey
    from broker.tokens.dpop import sign_proof

    try:
        jwk = json.loads(key_file.read_text(encoding="utf-8"))
        if not isinstance(jwk, dict):
            raise ValueError
        return sign_proof(jwk, method="POST", url=url, now=time.time(), jti=uuid.uuid4().hex)
    except OSError as exc:
        raise click.UsageError(f"--dpop-key {key_file}: cannot be read ({exc.strerror})") from None
    except (ValueError, InvalidKey) as exc:
        why = exc.detail if isinstance(exc, InvalidKey) else "not a JSON object"
        raise click.UsageError(f"--dpop-key {key_file}: not a usable private JWK ({why})") from None


def request_token(
    url: str,
    credential: str,
    template: str,
    environment: str,
    actions: tuple[str, ...],
    ttl: int | None,
    *,
    dpop_key: Path | None = None,
    purpose: str = "request",
) -> dict[str, Any]:
    """POST /v1/tokens; on refusal or no answer, print why and exit (2 refused, 3 unreachable).
    ``dpop_key``: bind the token to that private JWK (the proof's htu is ``url`` plus the
    path, so ``url`` must be the broker's issuer URL)."""
    body: dict[str, Any] = {"template": template, "environment": environment}
    if actions:
        body["actions"] = list(actions)
    if ttl is not None:
        body["ttl"] = ttl
    endpoint = f"{url.rstrip('/')}/v1/tokens"
    headers = {"Authorization": f"Bearer {credential}"}
    if dpop_key is not None:
        headers["DPoP"] = dpop_proof(dpop_key, endpoint)
    try:
        answer = httpx.post(endpoint, json=body, timeout=10, headers=headers)
    except httpx.HTTPError as exc:
        click.echo(
            f"capbroker: error: cannot reach the broker at {url} ({type(exc).__name__})", err=True
        )
        sys.exit(3)
    data: dict[str, Any] = (
        answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
    )
    if answer.status_code != 201:
        click.echo(
            f"capbroker: refused: {data.get('detail', answer.status_code)}"
            f" [{data.get('code', '?')}]",
            err=True,
        )
        if data.get("code") == "invalid_dpop_proof" and dpop_key is None:
            click.echo(f"capbroker: {DPOP_HINTS[purpose]}", err=True)
        sys.exit(2)
    return data


def provider_variables(
    data: dict[str, Any], gateway_url: str | None, url_var: str | None, token_var: str | None
) -> dict[str, str]:
    """What an agent's environment needs for a token answer: ``<PROVIDER>_API_URL`` (the
    gateway's route to the provider; none in proxy mode, where the provider's own URL is
    used), ``<PROVIDER>_TOKEN`` and ``CAPBROKER_SESSION_ID``."""
    provider = data["authorization_details"][0]["provider"]
    stem = provider.upper().replace("-", "_")
    variables = {
        token_var or f"{stem}_TOKEN": data["access_token"],
        "CAPBROKER_SESSION_ID": data["session_id"],
    }
    if gateway_url is not None:
        variables[url_var or f"{stem}_API_URL"] = f"{gateway_url.rstrip('/')}/{provider}"
    return variables


def end_session(url: str, credential: str, session_id: str) -> bool:
    """POST /v1/sessions/{id}/end; False if the broker did not answer 200."""
    try:
        answer = httpx.post(
            f"{url.rstrip('/')}/v1/sessions/{session_id}/end",
            headers={"Authorization": f"Bearer {credential}"},
            timeout=10,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


_url = click.option(
    "--url",
    default="http://127.0.0.1:8080",
    show_default=True,
    envvar="CAPBROKER_URL",
    help="The broker's URL (also CAPBROKER_URL).",
)
_template = click.option("--template", required=True)
_env = click.option("--env", "environment", required=True, help="The one environment.")
_actions = click.option(
    "--action", "actions", multiple=True, help="An action to ask for (repeatable; default all)."
)
_ttl = click.option("--ttl", type=int, help="Lifetime in seconds (default: the template's).")
_credential_env = click.option(
    "--credential-env",
    default=CREDENTIAL_ENV,
    show_default=True,
    help="Environment variable holding the agent credential (never pass it as an argument).",
)


@click.group()
def token() -> None:
    """Request capability tokens from a running broker (as an agent)."""


@token.command("request")
@_url
@_template
@_env
@_actions
@_ttl
@_credential_env
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer, not only the token.")
@click.option(
    "--dpop-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A private JWK file: bind the token to that key (RFC 9449 DPoP; --url must then be"
    " the broker's issuer URL).",
)
def token_request(
    url: str,
    template: str,
    environment: str,
    actions: tuple[str, ...],
    ttl: int | None,
    credential_env: str,
    as_json: bool,
    dpop_key: Path | None,
) -> None:
    """Exchange the agent credential for a token; prints the token on stdout."""
    credential = _credential(credential_env)
    data = request_token(url, credential, template, environment, actions, ttl, dpop_key=dpop_key)
    click.echo(json.dumps(data, indent=2) if as_json else data["access_token"])


@click.command("exec", context_settings={"ignore_unknown_options": True})
@_url
@click.option("--gateway", "gateway_url", help="The gateway's URL (path mode).")
@click.option("--proxy", help="The gateway's forward proxy, http://HOST:PORT (--proxy-port).")
@ca_option
@providers_option
@_template
@_env
@_actions
@_ttl
@_credential_env
@click.option("--url-var", help="Variable for the provider's URL (default <PROVIDER>_API_URL).")
@click.option("--token-var", help="Variable for the token (default <PROVIDER>_TOKEN).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(
    url: str,
    gateway_url: str | None,
    proxy: str | None,
    ca: Path | None,
    providers_file: Path | None,
    template: str,
    environment: str,
    actions: tuple[str, ...],
    ttl: int | None,
    credential_env: str,
    url_var: str | None,
    token_var: str | None,
    command: tuple[str, ...],
) -> None:
    """Request a token at session start, run COMMAND with the provider's URL and token
    pointed at the gateway (--gateway) or its traffic through the gateway's forward proxy
    (--proxy), and end the session when COMMAND exits (its exit code is ours).
    """
    from broker.cli.proxy_env import checked_proxy, load_provider_routes, proxy_session

    address = checked_proxy(gateway_url, proxy, ca)  # before any session starts
    routes = load_provider_routes(providers_file)
    credential = _credential(credential_env)
    data = request_token(url, credential, template, environment, actions, ttl, purpose="tools")
    provider = data["authorization_details"][0]["provider"]
    env = {k: v for k, v in os.environ.items() if k != credential_env}
    env.update(provider_variables(data, gateway_url, url_var, token_var))
    session_dir = None
    if address is not None and ca is not None:
        session_dir = proxy_session(env, address, ca, data["access_token"], routes, provider)
    click.echo(
        f"capbroker: session {data['session_id'][:8]} for {provider}/{environment}, "
        f"token expires in {data['expires_in']}s",
        err=True,
    )
    try:
        # Running the operator's own command is the point of exec.
        code = subprocess.run(list(command), env=env, check=False).returncode  # noqa: S603
    except FileNotFoundError:
        click.echo(f"capbroker: error: command not found: {command[0]}", err=True)
        code = 127
    finally:
        if session_dir is not None:
            shutil.rmtree(session_dir, ignore_errors=True)
        if not end_session(url, credential, data["session_id"]):
            click.echo(
                "capbroker: warning: could not end the session; it ends with its token", err=True
            )
    sys.exit(code)
