"""``capbroker``: serve the broker and administer it from the command line.

Admin commands act directly on the configured database and secret store (as the
server does), so they work before any admin credential exists.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import click

import broker
from broker.auth.credentials import Kind

if TYPE_CHECKING:
    from broker.domain.explain import Effect
from broker.cli.agent import exec_, token
from broker.cli.context import (
    CLI_ACTOR,
    CliState,
    emit,
    pass_state,
    reported_errors,
    workers_option,
)
from broker.cli.gateway import gateway, secrets


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(broker.__version__, prog_name="capbroker")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CAPBROKER_CONFIG",
    help="YAML settings file (also CAPBROKER_CONFIG).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (default ./.capbroker; also CAPBROKER_DATA_DIR).",
)
@click.option("--database-url", help="SQLAlchemy URL; default SQLite in the data directory.")
@click.pass_context
def main(
    ctx: click.Context, config: Path | None, data_dir: Path | None, database_url: str | None
) -> None:
    """capbroker: scoped, short-lived capability tokens for AI agents."""
    ctx.obj = CliState(config, {"data_dir": data_dir, "database_url": database_url})


# --- serve ------------------------------------------------------------------------------


@main.command()
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default 8080).")
@workers_option("audit chain; they share the store")
@pass_state
def serve(state: CliState, host: str | None, port: int | None, workers: int) -> None:
    """Run the broker's HTTP API (embedded default: SQLite + local encrypted secrets)."""
    import logging

    import uvicorn

    from broker.api.app import create_app
    from broker.services.principals import bootstrap_admin
    from broker.workers import hand_on_settings, tune_gc

    with reported_errors():
        services = state.services(host=host, port=port)
        settings = services.settings
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        services.keys.ensure_key(actor="system:bootstrap")
        created = bootstrap_admin(services.principals, settings.bootstrap_admin_file)
        if created is not None and not settings.bootstrap_admin_file:
            # Printed once, to the terminal only: it is stored nowhere but as a slow hash.
            click.echo("Bootstrap admin credential (shown once, store it now):", err=True)
            click.echo(f"  {created.credential}", err=True)
        elif created is not None:
            click.echo("Bootstrap admin created from bootstrap_admin_file", err=True)
        reach = services.reachability()
        click.echo(
            f"capbroker {broker.__version__} listening on http://{settings.host}:{settings.port}"
            f" (database: {services.db.engine.dialect.name},"
            f" secrets: {services.secrets.describe()} [{reach['secret_backend']}],"
            f" signer: {services.keys.describe()} [{reach['signer']}],"
            f" issuer: {settings.effective_issuer})",
            err=True,
        )
        if any(v != "ok" for v in reach.values()):
            click.echo(
                "capbroker: warning: the secret backend or the signer cannot be reached;"
                " /readyz answers 503 and issuance 503 until they can",
                err=True,
            )
        server_options = {
            "host": settings.host,
            "port": settings.port,
            "log_level": "warning",
            "access_log": False,
            "loop": "uvloop",
            "http": "httptools",
            "lifespan": "off",
        }
        if workers > 1:
            hand_on_settings(settings, state.config)
            services.close()
            uvicorn.run(
                "broker.api.asgi:app_from_environment",
                factory=True,
                workers=workers,
                **server_options,  # type: ignore[arg-type]
            )
            return
        app = create_app(services)
        services.start_background_checkpoints()
    tune_gc()
    uvicorn.run(app, **server_options)  # type: ignore[arg-type]


@main.command()
@pass_state
def migrate(state: CliState) -> None:
    """Bring the database schema up to date (serve does this too)."""
    with reported_errors():
        services = state.services()
        click.echo(f"database schema is current ({services.db.engine.dialect.name})")


@main.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's data in this directory (default: a fresh temporary one).",
)
def demo(keep: Path | None) -> None:
    """Replay the incident: a staging agent's volumeDelete on a volume production shares,
    refused by the gateway; prints the transcript and the audit trail. Exit 0 only if
    every expectation held."""
    from broker.demo.scene import run_demo

    with reported_errors():
        ok = run_demo(click.echo, keep=keep)
    sys.exit(0 if ok else 1)


# --- templates and policy -----------------------------------------------------------------


@main.command()
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A manifest file, or a directory of them (walked recursively).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
@pass_state
def apply(state: CliState, path: Path, dry_run: bool) -> None:
    """Apply CapabilityTemplate and PolicyFloor manifests (idempotent, GitOps-friendly)."""
    from broker.manifests import load_manifests

    with reported_errors():
        manifests = load_manifests(path)
        changes = state.services().templates.apply(manifests, actor=CLI_ACTOR, dry_run=dry_run)
        for c in changes:
            versions = (
                f"v{c.from_version} -> v{c.to_version}"
                if c.action == "update"
                else f"v{c.to_version}"
            )
            verb = {"create": "created", "update": "updated", "unchanged": "unchanged"}[c.action]
            prefix = "would be " if dry_run and c.action != "unchanged" else ""
            click.echo(f"{c.kind}/{c.name}: {prefix}{verb} ({versions})")
            for line in c.diff if dry_run else []:
                click.echo(f"    {line}")


@main.group()
def templates() -> None:
    """Read capability templates."""


@templates.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def templates_list(state: CliState, as_json: bool) -> None:
    """The newest version of every template."""
    with reported_errors():
        services = state.services()
        with services.db.read() as conn:
            rows = [
                {
                    "name": r.template.name,
                    "version": r.version,
                    "provider": r.template.provider,
                    "environments": list(r.template.environments),
                }
                for r in services.templates.list_latest(conn)
            ]
        emit(
            rows,
            as_json=as_json,
            human=lambda rs: (
                "\n".join(
                    f"{r['name']}  v{r['version']}  {r['provider']}  {','.join(r['environments'])}"
                    for r in rs
                )
                or "no templates"
            ),
        )


@templates.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, help="A specific version (default newest).")
@pass_state
def templates_show(state: CliState, name: str, version: int | None) -> None:
    """A template's spec as stored (canonical form)."""
    with reported_errors():
        services = state.services()
        with services.db.read() as conn:
            record = (
                services.templates.version(conn, name, version)
                if version
                else services.templates.latest(conn, name)
            )
        click.echo(
            json.dumps(
                {"name": name, "version": record.version, "spec": record.spec},
                indent=2,
                sort_keys=True,
            )
        )


@main.group()
def policy() -> None:
    """The global policy floor."""


@policy.command("show")
@pass_state
def policy_show(state: CliState) -> None:
    from broker.domain.policy import floor_to_spec

    with reported_errors():
        services = state.services()
        with services.db.read() as conn:
            floor, version = services.templates.floor(conn)
        click.echo(json.dumps({"version": version, "spec": floor_to_spec(floor)}, indent=2))


# --- agents and admins ----------------------------------------------------------------------


def _principal_group(kind: Kind) -> click.Group:
    group = click.Group(f"{kind}s", help=f"Create, list, disable and enable {kind}s.")

    @group.command("create")
    @click.argument("name")
    @click.option("--description", default="")
    @pass_state
    def create(state: CliState, name: str, description: str) -> None:
        """Create one; its credential is printed once and stored only as a slow hash."""
        with reported_errors():
            created = state.services().principals.create(
                kind,
                name,
                actor=CLI_ACTOR,
                description=description,
            )
        click.echo(f"created {kind} {name!r}. Credential (shown once):", err=True)
        click.echo(created.credential)

    @group.command("list")
    @click.option("--json", "as_json", is_flag=True)
    @pass_state
    def list_(state: CliState, as_json: bool) -> None:
        with reported_errors():
            rows = [p.__dict__ for p in state.services().principals.list(kind)]
        emit(
            rows,
            as_json=as_json,
            human=lambda rs: (
                "\n".join(
                    f"{r['name']}  {'disabled' if r['disabled_at'] else 'active'}"
                    f"  {r['description']}"
                    for r in rs
                )
                or f"no {kind}s"
            ),
        )

    for verb in ("disable", "enable"):

        def toggle(state: CliState, name: str, _verb: str = verb) -> None:
            with reported_errors():
                state.services().principals.set_disabled(
                    kind,
                    name,
                    disabled=_verb == "disable",
                    actor=CLI_ACTOR,
                )
            click.echo(f"{kind} {name!r} {_verb}d")

        group.command(verb, help=f"{verb.capitalize()} an {kind}.")(
            click.argument("name")(pass_state(toggle))
        )
    return group


main.add_command(_principal_group("agent"))
main.add_command(_principal_group("admin"))
main.add_command(gateway)
main.add_command(secrets)
main.add_command(token)
main.add_command(exec_)


# --- approvals -------------------------------------------------------------------------------


def _approver() -> str:
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


@main.group()
def approvals() -> None:
    """Held calls waiting for a human: list, show, approve, deny."""


@approvals.command("list")
@click.option("--status", type=click.Choice(["pending", "granted", "denied", "used"]))
@pass_state
def approvals_list(state: CliState, status: str | None) -> None:
    with reported_errors():
        views = state.services().approvals.list(status=status)
    for a in views:
        click.echo(
            f"{a.id}  {a.status:<8} {a.agent:<16} {' '.join(a.actions)} in "
            f"{','.join(a.environments) or '-'}  ({a.method} {a.provider}{a.path})"
        )
    if not views:
        click.echo("no approvals")


@approvals.command("show")
@click.argument("approval_id")
@pass_state
def approvals_show(state: CliState, approval_id: str) -> None:
    """The blast radius of a held call: what it does, where, on what, who asked."""
    with reported_errors():
        view = state.services().approvals.get(approval_id)
    click.echo(json.dumps(view.as_dict(), indent=2, default=str))


def _vote(state: CliState, approval_id: str, decision: Literal["approve", "deny"]) -> None:
    with reported_errors():
        view = state.services().approvals.vote(
            approval_id, approver=_approver(), approver_id=None, decision=decision
        )
    click.echo(
        f"{approval_id}: {view.status} ({len(view.votes)} of {view.approvers_required} approvers)"
    )


@approvals.command("approve")
@click.argument("approval_id")
@pass_state
def approvals_approve(state: CliState, approval_id: str) -> None:
    """Approve exactly that call, once (the agent retries it unchanged)."""
    _vote(state, approval_id, "approve")


@approvals.command("deny")
@click.argument("approval_id")
@pass_state
def approvals_deny(state: CliState, approval_id: str) -> None:
    _vote(state, approval_id, "deny")


# --- kill switch -----------------------------------------------------------------------------


@main.group()
def kill() -> None:
    """The kill switch: stop an agent, a template, a provider or everything at once."""


@kill.command("engage")
@click.option("--agent", help="Every token of this agent.")
@click.option("--template", help="Every token issued from this template.")
@click.option("--provider", help="Every token for this provider.")
@click.option("--all", "everything", is_flag=True, help="Every token there is.")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@pass_state
def kill_engage(
    state: CliState,
    agent: str | None,
    template: str | None,
    provider: str | None,
    everything: bool,
    reason: str,
) -> None:
    """Revoke the scope's tokens now and block its issuance until lifted."""
    chosen = [
        (s, v) for s, v in (("agent", agent), ("template", template), ("provider", provider)) if v
    ]
    if everything:
        chosen.append(("all", ""))
    if len(chosen) != 1:
        raise click.UsageError("name exactly one of --agent, --template, --provider, --all")
    scope, name = chosen[0]
    with reported_errors():
        record, revoked = state.services().kills.engage(scope, name, actor=CLI_ACTOR, reason=reason)
    click.echo(
        f"kill switch {record.switch.id} engaged on {scope} {record.switch.label}: "
        f"{revoked} tokens revoked; gateways refuse them within about a second"
    )


@kill.command("list")
@click.option("--all", "include_lifted", is_flag=True, help="Include lifted switches.")
@pass_state
def kill_list(state: CliState, include_lifted: bool) -> None:
    with reported_errors():
        records = state.services().kills.list(include_lifted=include_lifted)
    for r in records:
        status = "lifted" if r.lifted_at else "ENGAGED"
        click.echo(f"{r.switch.id}  {status:<8} {r.switch.scope}:{r.switch.label}  {r.reason}")
    if not records:
        click.echo("no kill switch is engaged")


@kill.command("lift")
@click.argument("kill_id")
@pass_state
def kill_lift(state: CliState, kill_id: str) -> None:
    """Lift a kill switch: issuance for its scope resumes (revoked tokens stay revoked)."""
    with reported_errors():
        state.services().kills.lift(kill_id, actor=CLI_ACTOR)
    click.echo(f"kill switch {kill_id} lifted")


# --- keys ------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command("rotate")
@pass_state
def keys_rotate(state: CliState) -> None:
    """Add a new key: published now, signing after the propagation delay."""
    with reported_errors():
        services = state.services()
        key = services.keys.rotate(actor=CLI_ACTOR)
        wait = key.activates_at - services.clock()
    click.echo(f"new key {key.kid} is published now and signs in {wait:.0f}s")


@keys.command("list")
@pass_state
def keys_list(state: CliState) -> None:
    with reported_errors():
        services = state.services()
        now = services.clock()
        signer = services.keys.signer().kid
        published = {k["kid"] for k in services.keys.jwks()["keys"]}  # type: ignore[attr-defined]
        for kid, _, at in services.keys.public_keys():
            status = (
                "signing"
                if kid == signer
                else "pending"
                if at > now
                else "published (retired)"
                if kid in published
                else "retired"
            )
            click.echo(
                f"{kid}  {status}  activates {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(at))}"
            )


# --- audit -----------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--type", "type_", help="Only events of this type, e.g. token.issued.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def audit_tail(state: CliState, lines: int, type_: str | None, as_json: bool) -> None:
    """The most recent events, oldest first."""
    from broker.audit.reader import AuditQuery, query_events

    with reported_errors():
        services = state.services()
        with services.db.read() as conn:
            events = list(reversed(query_events(conn, AuditQuery(type=type_, limit=lines))))
    if as_json:
        click.echo(json.dumps(events, indent=2))
        return
    for e in events:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["at"]))
        reason = f" [{e['reason']}]" if e["reason"] else ""
        click.echo(
            f"{stamp}  {e['type']:<22} {e['outcome']:<7} {e['actor']}  {e['subject']}{reason}"
        )


@audit.command("verify")
@pass_state
def audit_verify(state: CliState) -> None:
    """Prove every chain intact; name the first altered, missing or extra event. Exit 1 if not."""
    from broker.audit.reader import verify_all

    with reported_errors():
        services = state.services()
        with services.db.read() as conn:
            reports = verify_all(conn)
    total = sum(r.events for r in reports)
    bad = [r for r in reports if not r.ok]
    for r in bad:
        click.echo(
            f"chain {r.chain_id} ({r.writer}): FIRST BAD EVENT {r.first_bad_seq}: {r.problem}"
        )
    if bad:
        click.echo(f"audit log NOT intact: {len(bad)} of {len(reports)} chains fail")
        sys.exit(1)
    click.echo(f"audit log intact: {len(reports)} chains, {total} events")


# --- explain ---------------------------------------------------------------------------------


@main.command()
@click.option("--template", help="Explain for a template (newest version unless --version).")
@click.option("--version", "template_version", type=int)
@click.option(
    "--token-file",
    type=click.File("r"),
    help="Explain for a token read from this file ('-' stdin).",
)
@click.option("--action", required=True)
@click.option("--env", "environment", required=True)
@click.option("--agent")
@click.option("--resource")
@click.option("--effect", type=click.Choice(["read", "write", "destructive"]))
@click.option("--json", "as_json", is_flag=True)
@pass_state
def explain(
    state: CliState,
    template: str | None,
    template_version: int | None,
    token_file: Any,
    action: str,
    environment: str,
    agent: str | None,
    resource: str | None,
    effect: str | None,
    as_json: bool,
) -> None:
    """Would this template or token allow ACTION in ENV, and why not? Exit 1 unless allowed."""
    from broker.services.explain import ExplainQuery
    from broker.services.explain import explain as run

    with reported_errors():
        services = state.services()
        query = ExplainQuery(
            action,
            environment,
            template,
            template_version,
            token_file.read().strip() if token_file else None,
            agent,
            resource,
            cast("Effect | None", effect),
        )
        result, context = run(
            services.db,
            services.templates,
            services.issuance,
            query,
            ttl_ceiling=services.settings.max_token_ttl,
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "decision": result.decision,
                    **context,
                    "steps": [
                        {
                            "check": s.check,
                            "passed": s.passed,
                            "reason": s.reason,
                            "detail": s.detail,
                        }
                        for s in result.steps
                    ],
                },
                indent=2,
                default=str,
            )
        )
    else:
        click.echo(f"decision: {result.decision}")
        for s in result.steps:
            mark = "ok " if s.passed else "NO "
            click.echo(
                f"  {mark} {s.check:<12} {s.detail}" + (f" [{s.reason.value}]" if s.reason else "")
            )
    sys.exit(0 if result.decision == "allow" else 1)


if __name__ == "__main__":
    main()
