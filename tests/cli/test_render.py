"""The renderers are pure: plain values in, the lines the commands print out."""

from __future__ import annotations

from broker.cli import render
from broker.domain.explain import ExplainStep, Explanation
from broker.errors import Reason


def test_each_key_status_from_the_api_answer() -> None:
    def key(kid: str, **flags: bool) -> dict[str, object]:
        return {"kid": kid, "activates_at": 0.0, "signing": False, "published": False,
                "pending": False, **flags}  # fmt: skip

    listing = {
        "keys": [
            key("k1"),
            key("k2", published=True),
            key("k3", signing=True, published=True),
            key("k4", pending=True, published=True),
        ]
    }
    assert render.keys(listing) == [
        "k1  retired  activates 1970-01-01T00:00:00Z",
        "k2  published (retired)  activates 1970-01-01T00:00:00Z",
        "k3  signing  activates 1970-01-01T00:00:00Z",
        "k4  pending  activates 1970-01-01T00:00:00Z",
    ]


def test_an_explanation_lists_every_step_and_its_reason() -> None:
    from broker.api.answers import explanation

    result = Explanation(
        "deny",
        (
            ExplainStep("environment", True, None, "environment 'staging' is granted"),
            ExplainStep("action", False, Reason.VERB_NOT_GRANTED, "'x:y' is not granted"),
        ),
    )
    assert render.explanation(explanation(result, {"template": "t"})) == [
        "decision: deny",
        "  ok  environment  environment 'staging' is granted",
        "  NO  action       'x:y' is not granted [verb_not_granted]",
    ]


def test_empty_listings_say_so() -> None:
    assert render.templates([]) == "no templates"
    assert render.principals([], kind="admin") == "no admins"
    assert render.approvals([]) == ["no approvals"]
    assert render.kills([]) == ["no kill switch is engaged"]
    assert render.audit_verification([]) == (["audit log intact: 0 chains, 0 events"], True)
