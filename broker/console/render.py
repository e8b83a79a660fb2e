"""A tiny HTML kit: every value goes through ``esc``; pages are built from these helpers."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1b1f24;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header .who{margin-left:auto;color:#aab}
main{padding:1em 1.5em}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5em 0 1.5em}
th,td{border:1px solid #d6d9de;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#eef0f3}code{font-size:12px;word-break:break-all}
.flash{background:#e6f4ea;border:1px solid #8c8;padding:.5em;margin:.5em 0}
.error{background:#fdecea;border:1px solid #d88;padding:.5em;margin:.5em 0}
.ok{background:#e6f4ea;border:2px solid #2a2;padding:.6em;font-weight:bold;font-size:16px}
.bad{background:#fdecea;border:2px solid #c22;padding:.6em;font-weight:bold;font-size:16px}
form.inline{display:inline}button{cursor:pointer}
button.danger{background:#c22;color:#fff;border:1px solid #911}
button.go{background:#2a2;color:#fff;border:1px solid #181}
"""
NAV = (
    ("/console/approvals", "Approvals"),
    ("/console/sessions", "Sessions"),
    ("/console/kills", "Kill switch"),
    ("/console/audit", "Audit"),
    ("/console/templates", "Templates"),
)


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def join(values: Iterable[object]) -> str:
    return ", ".join(esc(v) for v in values)


def as_json(value: Any) -> str:
    return esc(json.dumps(value, sort_keys=True, separators=(",", ":")))


def table(headings: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str = "none") -> str:
    """Cells are HTML already (escape them with ``esc`` when building the rows)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headings)}"><em>{esc(empty)}</em></td></tr>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def post_form(
    action: str, csrf: str, label: str, *, fields: str = "", css: str = "", name: str = ""
) -> str:
    """A POST form with the session's CSRF token; ``fields`` is HTML (already escaped)."""
    button_class = f' class="{esc(css)}"' if css else ""
    button_name = f' name="{esc(name)}"' if name else ""
    return (
        f'<form class="inline" method="post" action="{esc(action)}">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">{fields}'
        f'<button{button_class}{button_name} type="submit">{esc(label)}</button></form>'
    )


def page(
    title: str,
    body: str,
    *,
    who: str = "",
    csrf: str = "",
    flash: Sequence[str] = (),
    error: str = "",
) -> str:
    nav = ""
    if who:
        links = "".join(f'<a href="{esc(href)}">{esc(text)}</a>' for href, text in NAV)
        logout = post_form("/console/logout", csrf, "Log out")
        nav = f'{links}<span class="who">{esc(who)}</span>{logout}'
    notes = "".join(f'<div class="flash" role="status">{esc(m)}</div>' for m in flash)
    if error:
        notes += f'<div class="error" role="alert">{esc(error)}</div>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} - capbroker</title><style>{_STYLE}</style></head><body>"
        f"<header><strong>capbroker</strong>{nav}</header>"
        f"<main><h1>{esc(title)}</h1>{notes}{body}</main></body></html>"
    )
