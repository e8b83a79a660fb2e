import pytest

from broker.domain.evaluate import is_protected
from broker.domain.names import is_valid_environment, is_valid_name


@pytest.mark.parametrize("name", ["a", "staging", "staging-agent", "a1", "0", "a" * 63])
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "Staging", "a_b", "a.b", "a" * 64, "stagïng", None, 3]
)
def test_invalid_names(name: object) -> None:
    assert not is_valid_name(name)


@pytest.mark.parametrize(
    "env",
    [
        "staging",
        "9f1c2d3e-0000-4000-8000-000000000001/staging",
        "octo-org/api.service/production",
        "Octo_Org/Repo/production",
        "a/b/c/prod",
    ],
)
def test_qualified_environments_are_valid(env: str) -> None:
    assert is_valid_environment(env)


@pytest.mark.parametrize(
    "env",
    [
        "",
        "/staging",
        "p1/",
        "p1//staging",
        "../staging",
        "./staging",
        "p1/Staging",
        "a/b/c/d/prod",
        "-p/staging",
        "p 1/staging",
        "p1/stag*",
        "x" * 101 + "/staging",
        None,
    ],
)
def test_malformed_qualified_environments_are_refused(env: object) -> None:
    assert not is_valid_environment(env)


def test_an_unqualified_protected_name_protects_it_under_every_owner() -> None:
    assert is_protected("p1/production", ("production",))
    assert is_protected("production", ("production",))
    assert is_protected("p1/production", ("p1/production",))
    assert not is_protected("p2/production", ("p1/production",))
    assert not is_protected("p1/staging", ("production",))
