"""The console's pages, as HTML bodies built from the broker's services (read-only here)."""

from __future__ import annotations

from broker.audit.reader import AuditQuery, query_events, verify_all
from broker.console.active import active_sessions
from broker.console.render import as_json, esc, join, post_form, table, when
from broker.domain.kills import SCOPES
from broker.services.approvals import ApprovalView
from broker.services.container import Services

AUDIT_ROWS = 50


def login(token: str) -> str:
    return (
        '<form method="post" action="/console/login">'
        f'<input type="hidden" name="csrf" value="{esc(token)}">'
        '<p><label for="credential">Admin credential</label><br>'
        '<input id="credential" name="credential" type="password" size="60" '
        'autocomplete="off" required placeholder="capb_adm_..."></p>'
        '<p><button type="submit" class="go">Log in</button></p></form>'
    )


def _votes(a: ApprovalView) -> str:
    cast = "".join(
        f"<li>{esc(v['approver'])}: {esc(v['decision'])} ({esc(when(v['at']))})</li>"
        for v in a.votes
    )
    approving = sum(1 for v in a.votes if v["decision"] == "approve")
    return f"{approving} / {a.approvers_required}" + (f"<ul>{cast}</ul>" if cast else "")


def approvals(services: Services, csrf: str) -> str:
    pending = [services.approvals.get(a.id) for a in services.approvals.list(status="pending")]
    now = services.clock()
    cards = []
    for a in pending:
        base = f"/console/approvals/{a.id}"
        expired = " (expired)" if now >= a.expires_at else ""
        cards.append(
            f'<section class="approval" id="{esc(a.id)}"><h2>Held call <code>{esc(a.id)}</code>'
            "</h2>"
            + table(
                ("what", "value"),
                [
                    ("Call", f"<code>{esc(a.method)} {esc(a.path)}</code> on {esc(a.provider)}"),
                    ("Actions", join(a.actions)),
                    ("Resources", join(a.resources) or "<em>none named</em>"),
                    ("Environments", join(a.environments)),
                    ("Effect", esc(a.effect)),
                    ("Agent", esc(a.agent)),
                    ("Template", f"{esc(a.template)} v{esc(a.template_version)}"),
                    ("Session", f"<code>{esc(a.session_id)}</code>"),
                    ("Votes / required", _votes(a)),
                    ("Requested", esc(when(a.created_at))),
                    ("Expires", esc(when(a.expires_at)) + esc(expired)),
                ],
            )
            + post_form(f"{base}/approve", csrf, "Approve", css="go", name="approve")
            + " "
            + post_form(f"{base}/deny", csrf, "Deny", css="danger", name="deny")
            + "</section>"
        )
    recent = [a for a in services.approvals.list(limit=50) if a.status != "pending"][:20]
    decided = table(
        ("approval", "status", "call", "agent", "requested"),
        [
            (
                f"<code>{esc(a.id)}</code>",
                esc(a.status),
                f"<code>{esc(a.method)} {esc(a.path)}</code> {join(a.actions)}",
                esc(a.agent),
                esc(when(a.created_at)),
            )
            for a in recent
        ],
    )
    body = "".join(cards) or "<p><em>No held calls are waiting.</em></p>"
    return f"{body}<h2>Recently decided</h2>{decided}"


def sessions(services: Services, csrf: str) -> str:
    with services.db.read() as conn:
        live = active_sessions(conn, services.clock())
    rows = []
    for s in live:
        tokens = table(
            ("token (jti)", "template", "provider / env", "actions", "expires"),
            [
                (
                    f"<code>{esc(t.jti)}</code>",
                    f"{esc(t.template)} v{esc(t.template_version)}",
                    f"{esc(t.provider)} / {esc(t.environment)}",
                    join(t.actions),
                    esc(when(t.expires_at)),
                )
                for t in s.tokens
            ],
        )
        revoke = post_form(f"/console/sessions/{s.id}/end", csrf, "Revoke session", css="danger")
        rows.append(
            (f"<code>{esc(s.id)}</code>", esc(s.agent), esc(when(s.created_at)), tokens, revoke)
        )
    return table(
        ("session", "agent", "started", "live tokens", ""),
        rows,
        empty="no active sessions",
    )


def kills(services: Services, csrf: str) -> str:
    options = "".join(f'<option value="{esc(s)}">{esc(s)}</option>' for s in SCOPES)
    engage = post_form(
        "/console/kills",
        csrf,
        "Engage kill switch",
        css="danger",
        fields=(
            f'<label>Scope <select name="scope" id="scope">{options}</select></label> '
            '<label>Name <input name="name" id="kill-name" size="30" '
            'placeholder="agent, template or provider (empty for all)"></label> '
            '<label>Reason <input name="reason" id="kill-reason" size="40" maxlength="500">'
            "</label> "
        ),
    )
    records = services.kills.list(include_lifted=True)
    active = [
        (
            esc(r.switch.scope),
            esc(r.switch.label),
            esc(r.reason),
            f"{esc(when(r.created_at))} by {esc(r.created_by)}",
            post_form(f"/console/kills/{r.switch.id}/lift", csrf, "Lift"),
        )
        for r in records
        if r.lifted_at is None
    ]
    lifted = [
        (
            esc(r.switch.scope),
            esc(r.switch.label),
            esc(r.reason),
            f"{esc(when(r.created_at))} by {esc(r.created_by)}",
            f"{esc(when(r.lifted_at))} by {esc(r.lifted_by)}",
        )
        for r in records
        if r.lifted_at is not None
    ][:50]
    return (
        "<p>Engaging revokes every live token in the scope and blocks issuance for it until "
        "lifted; gateways refuse those tokens within about a second.</p>"
        f"<p>{engage}</p><h2>Engaged</h2>"
        + table(("scope", "name", "reason", "engaged", ""), active, empty="no kill switch engaged")
        + "<h2>Lifted</h2>"
        + table(("scope", "name", "reason", "engaged", "lifted"), lifted)
    )


def audit(services: Services) -> str:
    with services.db.read() as conn:
        reports = verify_all(conn)
        events = query_events(conn, AuditQuery(limit=AUDIT_ROWS))
    ok = all(r.ok for r in reports)
    total = sum(r.events for r in reports)
    if ok:
        status = (
            f'<div class="ok" id="chain-status">Audit chains verified: {len(reports)} chain(s), '
            f"{total} event(s), intact.</div>"
        )
    else:
        status = (
            '<div class="bad" id="chain-status">AUDIT CHAIN VERIFICATION FAILED: '
            "the log has been altered or events are missing.</div>"
        )
    chains = table(
        ("chain", "writer", "events", "ok", "first bad seq", "problem"),
        [
            (
                f"<code>{esc(r.chain_id)}</code>",
                esc(r.writer),
                esc(r.events),
                "yes" if r.ok else "<strong>NO</strong>",
                esc(r.first_bad_seq),
                esc(r.problem),
            )
            for r in reports
        ],
    )
    rows = table(
        ("at", "type", "actor", "subject", "outcome", "reason", "data"),
        [
            (
                esc(when(e["at"])),
                esc(e["type"]),
                esc(e["actor"]),
                esc(e["subject"]),
                esc(e["outcome"]),
                esc(e["reason"]),
                f"<code>{as_json(e['data'])}</code>",
            )
            for e in events
        ],
    )
    return f"{status}{chains}<h2>Newest {AUDIT_ROWS} events</h2>{rows}"


def templates(services: Services) -> str:
    with services.db.read() as conn:
        latest = services.templates.list_latest(conn)
        histories = {
            r.template.name: services.templates.history(conn, r.template.name) for r in latest
        }
    rows = []
    for r in latest:
        t = r.template
        versions = "".join(
            f"<li>v{esc(h.version)} <code>{esc(h.digest[:12])}</code> "
            f"{esc(when(h.created_at))} by {esc(h.created_by)}</li>"
            for h in reversed(histories[t.name])
        )
        rows.append(
            (
                esc(t.name),
                f"v{esc(r.version)}",
                esc(t.provider),
                join(t.environments),
                join(t.actions),
                join(t.approval.actions) if t.approval.actions else "",
                f"<ul>{versions}</ul>",
            )
        )
    return "<p>Read-only; change templates with manifests (<code>capbroker apply</code>).</p>" + (
        table(
            ("name", "newest", "provider", "environments", "actions", "need approval", "versions"),
            rows,
            empty="no templates",
        )
    )
