"""Settings: defaults < config file < CAPBROKER_* variables < overrides; bad values named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from broker.errors import InvalidRequest
from broker.secrets.vault.config import vault_config_from_env
from broker.settings import Settings, load_settings
from broker.typed_settings import Limit, coerce, field_kinds, limit_problems


def test_defaults_are_the_embedded_default(tmp_path: Path) -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert s.data_dir == Path(".capbroker")
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith(".capbroker/capbroker.db")
    assert s.effective_issuer == "http://127.0.0.1:8080"


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "capbroker.yaml"
    config.write_text("port: 9000\nhost: 0.0.0.0\nmax-token-ttl: 1800\n")
    s = load_settings(
        config_file=config, environ={"CAPBROKER_PORT": "9100"}, overrides={"host": None}
    )
    assert (s.port, s.host, s.max_token_ttl) == (9100, "0.0.0.0", 1800)
    s = load_settings(
        config_file=config, environ={"CAPBROKER_PORT": "9100"}, overrides={"port": 9200}
    )
    assert s.port == 9200
    s = load_settings(environ={"CAPBROKER_CONFIG": str(config)})
    assert s.port == 9000


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"CAPBROKER_PORT": "eighty"}, "CAPBROKER_PORT"),
        ({"CAPBROKER_PORT": "70000"}, "port must be between"),
        ({"CAPBROKER_MAX_TOKEN_TTL": "999999"}, "max_token_ttl"),
        ({"CAPBROKER_SECRET_BACKEND": "floppy"}, "secret_backend"),
        ({"CAPBROKER_TYPO": "1"}, "CAPBROKER_TYPO"),
    ],
)
def test_bad_environment_is_named(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        load_settings(environ=environ)
    assert fragment in err.value.detail


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("port: [1, 2]\n", "port"),
        ("nonsense: 1\n", "nonsense"),
        ("- a\n- b\n", "mapping"),
        ("port: 1\n  bad: indent\n", "not valid YAML"),
    ],
)
def test_bad_config_file_is_named(tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(InvalidRequest) as err:
        load_settings(config_file=config, environ={})
    assert fragment in err.value.detail
    assert "c.yaml" in err.value.detail


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot be read"):
        load_settings(config_file=tmp_path / "absent.yaml", environ={})


def test_a_webhook_url_needs_its_hmac_key() -> None:
    with pytest.raises(InvalidRequest, match="approval_webhook_secret_file"):
        load_settings(environ={"CAPBROKER_APPROVAL_WEBHOOK_URL": "http://127.0.0.1:9/hook"})


# --- the one mechanism behind Settings and VaultConfig ----------------------------------------


def test_field_kinds_read_optional_as_the_inner_type() -> None:
    assert field_kinds(Settings)["data_dir"] is Path
    assert field_kinds(Settings)["port"] is int
    kinds = field_kinds(type(vault_config_from_env({"VAULT_ADDR": "http://v", "VAULT_TOKEN": "t"})))
    assert (kinds["ca_cert"], kinds["namespace"], kinds["cache_ttl"]) == (Path, str, float)


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("80", int, 80),
        (80, int, 80),
        ("2.5", float, 2.5),
        (3, float, 3.0),
        ("/run/x", Path, Path("/run/x")),
        ("text", str, "text"),
        (5, str, "5"),
    ],
)
def test_coerce(raw: object, kind: type, expected: object) -> None:
    assert coerce("label", raw, kind) == expected


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        ("eighty", int, "somewhere: expected int"),
        (True, int, "somewhere: expected int"),
        ("2.5", int, "somewhere: expected int"),
        ("soon", float, "somewhere: expected a number of seconds"),
        (False, float, "somewhere: expected a number of seconds"),
        ([1], str, "somewhere: expected str"),
        ("x", bytes, "somewhere: cannot be set this way"),
    ],
)
def test_coerce_names_the_source_not_the_value(raw: object, kind: type, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        coerce("somewhere", raw, kind)
    assert err.value.detail == message


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (Limit(low=60, high=3600, unit=" seconds"), "must be between 60 and 3600 seconds"),
        (Limit(low=1024), "must be at least 1024"),
        (Limit(high=9), "must be at most 9"),
        (Limit(above=0, unit=" seconds"), "must be more than 0 seconds"),
        (Limit(choices=("local", "vault")), "must be 'local' or 'vault'"),
        (
            Limit(low=0, says="must be 0 (no cache) or more seconds"),
            "must be 0 (no cache) or more seconds",
        ),
    ],
)
def test_limit_messages(limit: Limit, message: str) -> None:
    assert limit.message() == message


def test_limits_are_checked_in_their_order_and_nan_fails_them() -> None:
    class Values:
        a = math.nan
        b = 5
        c = "floppy"
        d = 2

    limits = {
        "c": Limit(choices=("local",)),
        "a": Limit(above=0),
        "b": Limit(low=1, high=9),
        "d": Limit(low=3),
    }
    assert [name for name, _ in limit_problems(Values(), limits)] == ["c", "a", "d"]


def test_settings_and_vault_coerce_alike() -> None:
    """The same kind of value is refused with the same words in either configuration."""
    with pytest.raises(InvalidRequest) as settings_error:
        load_settings(environ={"CAPBROKER_PORT": "soon"})
    with pytest.raises(InvalidRequest) as vault_error:
        vault_config_from_env(
            {"VAULT_ADDR": "http://v", "VAULT_TOKEN": "t", "CAPBROKER_VAULT_TIMEOUT": "soon"}
        )
    assert settings_error.value.detail == "environment variable CAPBROKER_PORT: expected int"
    assert vault_error.value.detail == (
        "environment variable CAPBROKER_VAULT_TIMEOUT: expected a number of seconds"
    )


def test_an_unknown_vault_variable_is_named() -> None:
    with pytest.raises(InvalidRequest) as err:
        load_settings(environ={"CAPBROKER_VAULT_MOUNTT": "kv"})
    assert err.value.detail == "environment variable CAPBROKER_VAULT_MOUNTT: unknown vault setting"
    assert load_settings(environ={"CAPBROKER_VAULT_MOUNT": "kv"}) == Settings()


@pytest.mark.parametrize(
    ("issuer", "problem"),
    [
        ("https://broker.example/?x=1", "no query or fragment"),
        ("https://broker.example#top", "no query or fragment"),
        ("https://broker.example/", "must not end with /"),
        ("ftp://broker.example", "https (or http) URL"),
        ("broker.example", "https (or http) URL"),
        ("https://user:pw@broker.example", "user information"),
    ],
)
def test_an_issuer_rfc8414_cannot_name_is_refused(issuer: str, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        load_settings(environ={"CAPBROKER_ISSUER": issuer})
    assert problem in caught.value.detail
    assert "pw@" not in caught.value.detail  # a password in the URL is never echoed


@pytest.mark.parametrize(
    "issuer", ["https://broker.example", "https://broker.example/tenant-a", "http://10.0.0.1:8080"]
)
def test_issuers_with_a_well_known_location_are_kept(issuer: str) -> None:
    assert load_settings(environ={"CAPBROKER_ISSUER": issuer}).effective_issuer == issuer
