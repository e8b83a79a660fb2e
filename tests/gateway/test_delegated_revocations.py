"""The revocation set's answers for delegated tokens: any ancestor revoked, and a kill
switch covering the root agent or any actor of the chain (pure, no store)."""

from __future__ import annotations

from broker.domain.kills import KillSwitch
from broker.gateway.revocations import Changes, Revocations


def test_a_revoked_ancestor_is_found_among_the_chain() -> None:
    r = Revocations()
    r.apply(Changes([("j-root", 10.0, 100.0)], [], ()))
    assert r.any_revoked(("j-root", "j-parent"))
    assert not r.any_revoked(("j-other", "j-parent"))
    assert not r.any_revoked(())


def test_a_kill_on_any_agent_of_the_chain_covers_the_token() -> None:
    sub_agent = KillSwitch("k1", "agent", "p-sub", "sub")
    r = Revocations()
    r.apply(Changes([], [], (sub_agent,)))
    kw = {"template": "t", "provider": "p"}
    assert r.killed_any(("p-root", "p-sub"), **kw) is sub_agent
    assert r.killed_any(("p-root",), **kw) is None
    template = KillSwitch("k2", "template", "t", "t")
    r.apply(Changes([], [], (template,)))
    assert r.killed_any(("p-root",), **kw) is template
