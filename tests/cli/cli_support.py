"""Running the capbroker command in-process, and a store with a held approval in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

from broker.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "templates"
Run = Callable[..., Result]


def runner_on(data_dir: Path) -> Run:
    """``run(*args, input=None)``: ``capbroker --data-dir DATA_DIR *args``."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--data-dir", str(data_dir), *args], input=input)

    return invoke


def hold_approval(data_dir: Path) -> tuple[str, str]:
    """A held ``volume:delete`` call by agent ``claude-cli`` on a store with the example
    templates and a signing key: the approval's id and the token that asked."""
    from broker.domain.grants import GrantRequest
    from broker.services.container import build_services
    from broker.settings import Settings
    from broker.tokens.grant import grant_from_token
    from tests.support.factories import held_volume_delete

    services = build_services(Settings(data_dir=data_dir))
    agent = services.principals.create("agent", "claude-cli", actor="t").credential
    access_token = services.issuance.issue(
        agent, GrantRequest("staging-agent", "staging")
    ).access_token
    token = services.issuance.verify(access_token)
    call = held_volume_delete("railway-demo")
    with services.db.transaction() as tx:
        approval = services.approvals.hold_in(
            tx, call=call, effect="destructive", token=token, grant=grant_from_token(token)
        )
    services.close()
    return approval, access_token
