"""The capbroker command in-process: apply, agents, audit, explain, keys, and its error messages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.cli.cli_support import EXAMPLES, hold_approval
from tests.support.client_keys import make_key


def test_every_command_has_help(run) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["apply", "--help"],
        ["agents", "create", "--help"],
        ["audit", "verify", "--help"],
        ["explain", "--help"],
        ["keys", "rotate", "--help"],
        ["token", "request", "--help"],
        ["templates", "show", "--help"],
    ):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_apply_is_idempotent_and_dry_run_changes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dry = run("apply", "-f", str(EXAMPLES), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would be created" in dry.output
    assert "+provider: railway" in dry.output
    assert run("templates", "list").output.strip() == "no templates"
    first = run("apply", "-f", str(EXAMPLES))
    assert "CapabilityTemplate/staging-agent: created (v1)" in first.output
    assert "unchanged" in run("apply", "-f", str(EXAMPLES)).output
    changed = tmp_path / "t.yaml"
    changed.write_text((EXAMPLES / "staging-agent.yaml").read_text().replace("max: 1h", "max: 30m"))
    diff = run("apply", "-f", str(changed), "--dry-run")
    assert "would be updated (v1 -> v2)" in diff.output
    assert "-  max: 3600" in diff.output
    assert "updated (v1 -> v2)" in run("apply", "-f", str(changed)).output
    shown = run("templates", "show", "staging-agent", "--version", "1")
    assert '"max": 3600' in shown.output


def test_apply_error_names_file_and_field(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A store to read back from: `templates list` reads, and reading needs one.
    assert run("migrate").exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (EXAMPLES / "staging-agent.yaml").read_text().replace("- volume:read", "- Volume:Read")
    )
    result = run("apply", "-f", str(bad))
    assert result.exit_code == 2
    assert "bad.yaml" in result.output
    assert "spec.actions[4]" in result.output
    assert "[invalid_manifest]" in result.output
    assert run("templates", "list").output.strip() == "no templates"


def test_ttl_above_the_ceiling_is_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "long.yaml"
    bad.write_text((EXAMPLES / "staging-agent.yaml").read_text().replace("max: 1h", "max: 5h"))
    result = run("apply", "-f", str(bad))
    assert result.exit_code == 2
    assert "[invalid_manifest]" in result.output


def test_agents_lifecycle_and_audit(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = run("agents", "create", "claude-code", "--description", "the coder")
    assert created.exit_code == 0
    credential = created.stdout.strip().splitlines()[-1]
    assert credential.startswith("capb_agt_")
    dup = run("agents", "create", "claude-code")
    assert dup.exit_code == 2
    assert "[conflict]" in dup.output
    bad = run("agents", "create", "Bad Name")
    assert bad.exit_code == 2
    assert "[invalid_request]" in bad.output
    assert "claude-code  active" in run("agents", "list").output
    assert run("agents", "disable", "claude-code").exit_code == 0
    assert "claude-code  disabled" in run("agents", "list").output
    missing = run("agents", "disable", "ghost")
    assert missing.exit_code == 2
    assert "[not_found]" in missing.output
    tail = run("audit", "tail")
    assert "agent.created" in tail.output
    assert "agent.disabled" in tail.output
    assert credential not in tail.output
    db = sqlite3.connect(tmp_path / "data" / "capbroker.db")
    hashes = [r[0] for r in db.execute("SELECT secret_hash FROM credentials")]
    assert hashes
    assert all(h.startswith("scrypt$") for h in hashes)
    dump = "\n".join(db.iterdump())
    assert credential not in dump
    # The secret part alone (capb_agt_<key id>_<secret>; the secret may itself hold "_").
    secret = credential.split("_", 3)[3]
    assert len(secret) == 43
    assert secret not in dump


def test_audit_verify_finds_tampering(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("apply", "-f", str(EXAMPLES))
    run("agents", "create", "a1")
    run("agents", "create", "a2")
    ok = run("audit", "verify")
    assert ok.exit_code == 0
    assert "intact" in ok.output
    db = sqlite3.connect(tmp_path / "data" / "capbroker.db")
    db.execute(
        "UPDATE audit_events SET subject = 'agent:someone-else' WHERE type = 'agent.created'"
    )
    db.commit()
    bad = run("audit", "verify")
    assert bad.exit_code == 1
    assert "FIRST BAD EVENT" in bad.output
    assert "altered" in bad.output


def test_explain(run) -> None:  # type: ignore[no-untyped-def]
    run("apply", "-f", str(EXAMPLES))
    allowed = run(
        "explain",
        "--template",
        "staging-agent",
        "--action",
        "deployment:create",
        "--env",
        "staging",
    )
    assert allowed.exit_code == 0
    assert "decision: allow" in allowed.output
    denied = run(
        "explain", "--template", "staging-agent", "--action", "backup:delete", "--env", "production"
    )
    assert denied.exit_code == 1
    assert "decision: deny" in denied.output
    assert "[forbidden_verb]" in denied.output
    assert "[environment_not_granted]" in denied.output
    held = run(
        "explain", "--template", "staging-agent", "--action", "volume:delete", "--env", "staging"
    )
    assert held.exit_code == 1
    assert "decision: approval_required" in held.output


def test_keys_rotate_publishes_before_signing(run) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate").exit_code == 0  # the first key, which signs at once
    before = run("keys", "list").output
    assert before.count("signing") == 1
    assert "pending" not in before
    result = run("keys", "rotate")
    assert result.exit_code == 0
    assert "published now and signs in 300s" in result.output
    listing = run("keys", "list").output
    assert listing.count("signing") == 1
    assert listing.count("pending") == 1


def test_bad_settings_are_named(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CAPBROKER_MAX_TOKEN_TTL", "forever")
    result = run("agents", "list")
    assert result.exit_code == 2
    assert "CAPBROKER_MAX_TOKEN_TTL" in result.output
    monkeypatch.delenv("CAPBROKER_MAX_TOKEN_TTL")
    monkeypatch.setenv("CAPBROKER_NO_SUCH_THING", "1")
    result = run("agents", "list")
    assert result.exit_code == 2
    assert "CAPBROKER_NO_SUCH_THING" in result.output


def test_approvals_from_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate").exit_code == 0  # the first signing key: a token is issued below
    assert run("apply", "-f", str(EXAMPLES)).exit_code == 0
    approval, _ = hold_approval(tmp_path / "data")
    listed = run("approvals", "list", "--status", "pending")
    assert approval in listed.output
    assert "volume:delete in staging" in listed.output
    shown = run("approvals", "show", approval)
    assert '"agent": "claude-cli"' in shown.output
    approved = run("approvals", "approve", approval)
    assert approved.exit_code == 0
    assert f"{approval}: granted (1 of 1 approvers)" in approved.output
    again = run("approvals", "deny", approval)
    assert again.exit_code == 2
    assert "[conflict]" in again.output
    assert run("approvals", "approve", "apr_nope").exit_code == 2


def test_apply_registers_a_resource_server_with_its_keys(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = {
        "apiVersion": "capbroker.dev/v1",
        "kind": "ResourceServer",
        "metadata": {"name": "billing-api"},
        "spec": {"jwks": make_key("EdDSA", kid="k-1").jwks()},
    }
    path = tmp_path / "rs.yaml"
    path.write_text(yaml.safe_dump(doc))
    dry = run("apply", "-f", str(path), "--dry-run")
    assert "ResourceServer/billing-api: would be created" in dry.output, dry.output
    assert "    + kid k-1" in dry.output
    assert "ResourceServer/billing-api: created" in run("apply", "-f", str(path)).output
    assert "ResourceServer/billing-api: unchanged" in run("apply", "-f", str(path)).output
