"""The console over plain HTTP: cookies, headers, CSRF, origin checks, login, escaping."""

from __future__ import annotations

import httpx

from broker.audit.reader import AuditQuery, query_events
from broker.console.security import CSP
from tests.console.console_support import Console, csrf_of, held_call, logged_in, login

PAGES = (
    "/console/approvals",
    "/console/sessions",
    "/console/kills",
    "/console/audit",
    "/console/templates",
)


def test_login_cookie_and_headers(console: Console) -> None:
    client = httpx.Client(base_url=console.url, timeout=10)
    form = client.get("/console/login")
    r = login(client, console.admin)
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("capb_console="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "path"} <= attrs
    assert "samesite=strict" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert "secure" not in attrs  # plain http on 127.0.0.1 only
    assert console.admin not in cookie
    for response in (form, r, *(client.get(p) for p in PAGES)):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
    for p in PAGES:
        page = client.get(p)
        assert page.status_code == 200, p
        assert "<script" not in page.text
    assert "intact" in client.get("/console/audit").text


def test_pages_need_login(console: Console) -> None:
    client = httpx.Client(base_url=console.url, timeout=10)
    for p in PAGES:
        r = client.get(p)
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login"
        assert r.headers["content-security-policy"] == CSP


def test_wrong_and_agent_credentials_cannot_log_in(console: Console) -> None:
    services = console.stack.services
    client = httpx.Client(base_url=console.url, timeout=10)
    key_id = console.admin.split("_")[2]
    wrong = console.admin[:-4] + ("AAAA" if not console.admin.endswith("AAAA") else "BBBB")
    for credential in (wrong, console.stack.agent, "not-a-credential", "<script>x</script>"):
        r = login(client, credential)
        assert r.status_code == 401, credential
        assert "Login refused" in r.text
        assert "<script>x" not in r.text
        assert "capb_console=" not in r.headers.get("set-cookie", "")
        assert client.get("/console/approvals").status_code == 303
    with services.db.read() as conn:
        refused = query_events(conn, AuditQuery(type="auth.refused", actor="admin:ops"))
    assert any(e["subject"] == f"key:{key_id}" for e in refused)
    # without the login form's token nothing is even tried
    r = httpx.post(f"{console.url}/console/login", data={"credential": console.admin})
    assert r.status_code == 403
    assert r.json()["refusal"] == "csrf"


def test_csrf_and_cross_origin_posts_change_nothing(console: Console) -> None:
    _, approval = held_call(console.stack)
    client, csrf = logged_in(console.url, console.admin)
    target = f"/console/approvals/{approval}/approve"
    for data, headers in (
        ({}, {}),
        ({"csrf": "wrong"}, {}),
        ({"csrf": csrf}, {"Origin": "http://evil.test"}),
        ({"csrf": csrf}, {"Referer": "http://evil.test/page"}),
        ({"csrf": csrf}, {"Origin": "null"}),
    ):
        r = client.post(target, data=data, headers=headers)
        assert r.status_code == 403, (data, headers)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert (body["code"], body["refusal"]) == ("invalid_request", "csrf")
        assert r.headers["content-security-policy"] == CSP
    assert console.stack.services.approvals.get(approval).status == "pending"
    # a kill switch without a token is not engaged either
    r = client.post("/console/kills", data={"scope": "all", "name": "", "reason": "x"})
    assert r.status_code == 403
    assert console.stack.services.kills.list() == []
    # the same-origin form with its token works
    ok = client.post(target, data={"csrf": csrf}, headers={"Origin": console.url})
    assert ok.status_code == 303
    assert console.stack.services.approvals.get(approval).status == "granted"
    assert "it is now granted" in client.get("/console/approvals").text


def test_logout_ends_the_session(console: Console) -> None:
    client, csrf = logged_in(console.url, console.admin)
    stolen = client.cookies["capb_console"]
    r = client.post("/console/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"
    assert client.get("/console/approvals").status_code == 303
    replay = httpx.Client(base_url=console.url, cookies={"capb_console": stolen}, timeout=10)
    assert replay.get("/console/approvals").status_code == 303
    assert replay.post("/console/logout", data={"csrf": csrf}).status_code == 303


def test_output_is_escaped(console: Console) -> None:
    client, csrf = logged_in(console.url, console.admin)
    evil = "<script>alert(1)</script>"
    r = client.post(
        "/console/kills",
        data={"csrf": csrf, "scope": "template", "name": evil, "reason": '"><img src=x>'},
    )
    assert r.status_code == 303
    for p in ("/console/kills", "/console/audit"):
        text = client.get(p).text
        assert "<script>alert" not in text
        assert "<img src=x>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    kill = console.stack.services.kills.list()[0]
    r = client.post(f"/console/kills/{kill.switch.id}/lift", data={"csrf": csrf})
    assert r.status_code == 303
    assert console.stack.services.kills.list() == []


def test_sessions_page_revokes(console: Console) -> None:
    token, _ = held_call(console.stack)
    client, csrf = logged_in(console.url, console.admin)
    verified = console.stack.services.issuance.verify(token)
    page = client.get("/console/sessions").text
    assert verified.sid in page
    assert verified.jti in page
    r = client.post(f"/console/sessions/{verified.sid}/end", data={"csrf": csrf})
    assert r.status_code == 303
    text = client.get("/console/sessions").text
    assert "ended; 1 token(s) revoked" in text or "token(s) revoked" in text
    assert verified.jti not in text
    assert csrf_of(text) == csrf


def test_a_disabled_admin_loses_the_console_at_once(console: Console) -> None:
    created = console.stack.services.principals.create("admin", "temp-ops", actor="test")
    client, _ = logged_in(console.url, created.credential)
    assert client.get("/console/approvals").status_code == 200
    console.stack.services.principals.set_disabled("admin", "temp-ops", disabled=True, actor="test")
    r = client.get("/console/approvals")
    assert r.status_code in (302, 303)
    assert r.headers["location"].endswith("/console/login")
    client.close()
