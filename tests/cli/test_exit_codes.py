"""How a refusal becomes the command's exit code: 2 refused, 3 unavailable."""

from __future__ import annotations

import pytest

from broker.cli.context import reported_errors
from broker.errors import BrokerError, Denied, Unavailable
from broker.tokens import NoSigningKey


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Denied("no"), 2),
        (Unavailable("the database is down"), 3),
        (NoSigningKey("no signing key is active; generate or activate one"), 3),
    ],
)
def test_exit_code_says_refused_or_unavailable(
    error: BrokerError, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited, reported_errors():
        raise error
    assert exited.value.code == code
    assert f"[{error.reason.value}]" in capsys.readouterr().err


def test_no_signing_key_keeps_its_status_and_code() -> None:
    error = NoSigningKey("no signing key is active")
    assert (error.status, error.title, error.reason.value) == (
        503,
        "Service unavailable",
        "internal_error",
    )
