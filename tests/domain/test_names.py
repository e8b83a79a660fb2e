import pytest

from broker.domain.names import is_valid_name


@pytest.mark.parametrize("name", ["a", "staging", "staging-agent", "a1", "0", "a" * 63])
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "Staging", "a_b", "a.b", "a" * 64, "stagïng", None, 3]
)
def test_invalid_names(name: object) -> None:
    assert not is_valid_name(name)
