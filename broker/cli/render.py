"""Results as the text the commands print: pure functions of plain values, no I/O.

Where the admin API answers the same question, the text is rendered from the API's own
answer (``broker.api.answers``), so the two cannot drift apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from broker.audit.chain import ChainReport
from broker.services.approvals import ApprovalView
from broker.services.kills import KillRecord
from broker.services.templates import Change


def stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


# --- templates and principals ----------------------------------------------------------------


def changes(applied: Iterable[Change], *, dry_run: bool) -> list[str]:
    """``apply``: one line per manifest, and its diff under it in a dry run."""
    lines = []
    for c in applied:
        versions = (
            f"v{c.from_version} -> v{c.to_version}" if c.action == "update" else f"v{c.to_version}"
        )
        verb = {"create": "created", "update": "updated", "unchanged": "unchanged"}[c.action]
        prefix = "would be " if dry_run and c.action != "unchanged" else ""
        suffix = f" ({versions})" if c.to_version is not None else ""  # resource servers: none
        lines.append(f"{c.kind}/{c.name}: {prefix}{verb}{suffix}")
        lines.extend(f"    {line}" for line in (c.diff if dry_run else []))
    return lines


def templates(rows: Sequence[Mapping[str, Any]]) -> str:
    return (
        "\n".join(
            f"{r['name']}  v{r['version']}  {r['provider']}  {','.join(r['environments'])}"
            for r in rows
        )
        or "no templates"
    )


def principals(rows: Sequence[Mapping[str, Any]], *, kind: str) -> str:
    return (
        "\n".join(
            f"{r['name']}  {'disabled' if r['disabled_at'] else 'active'}  {r['description']}"
            for r in rows
        )
        or f"no {kind}s"
    )


# --- approvals and kill switches ---------------------------------------------------------------


def approvals(views: Sequence[ApprovalView]) -> list[str]:
    return [
        f"{a.id}  {a.status:<8} {a.agent:<16} {' '.join(a.actions)} in "
        f"{','.join(a.environments) or '-'}  ({a.method} {a.provider}{a.path})"
        for a in views
    ] or ["no approvals"]


def kills(records: Sequence[KillRecord]) -> list[str]:
    return [
        f"{r.switch.id}  {'lifted' if r.lifted_at else 'ENGAGED':<8} "
        f"{r.switch.scope}:{r.switch.label}  {r.reason}"
        for r in records
    ] or ["no kill switch is engaged"]


# --- keys, audit, explain ------------------------------------------------------------------------


def keys(listing: Mapping[str, Any]) -> list[str]:
    """``keys list`` from the answer of ``GET /v1/admin/keys`` (``answers.key_listing``)."""
    return [
        f"{k['kid']}  {_key_status(k)}  activates {stamp(k['activates_at'])}"
        for k in listing["keys"]
    ]


def _key_status(key: Mapping[str, Any]) -> str:
    if key["signing"]:
        return "signing"
    if key["pending"]:
        return "pending"
    return "published (retired)" if key["published"] else "retired"


def audit_events(events: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        f"{stamp(e['at'])}  {e['type']:<22} {e['outcome']:<7} {e['actor']}  {e['subject']}"
        + (f" [{e['reason']}]" if e["reason"] else "")
        for e in events
    ]


def audit_verification(reports: Sequence[ChainReport]) -> tuple[list[str], bool]:
    """The first bad event of each failing chain and a summary; True if every chain holds."""
    bad = [r for r in reports if not r.ok]
    lines = [
        f"chain {r.chain_id} ({r.writer}): FIRST BAD EVENT {r.first_bad_seq}: {r.problem}"
        for r in bad
    ]
    if bad:
        lines.append(f"audit log NOT intact: {len(bad)} of {len(reports)} chains fail")
    else:
        total = sum(r.events for r in reports)
        lines.append(f"audit log intact: {len(reports)} chains, {total} events")
    return lines, not bad


def explanation(answer: Mapping[str, Any]) -> list[str]:
    """``explain`` from the answer of ``POST /v1/admin/explain`` (``answers.explanation``)."""
    return [f"decision: {answer['decision']}"] + [
        f"  {'ok ' if s['passed'] else 'NO '} {s['check']:<12} {s['detail']}"
        + (f" [{s['reason']}]" if s["reason"] else "")
        for s in answer["steps"]
    ]
