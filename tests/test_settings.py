"""Settings: defaults < config file < CAPBROKER_* variables < overrides; bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.errors import InvalidRequest
from broker.settings import Settings, load_settings


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
