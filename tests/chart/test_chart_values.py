"""Bad values fail `helm template` and `helm lint --strict` with a message naming the value."""

from __future__ import annotations

import pytest

from tests.chart.chart_support import CHART, VALUE_SETS, helm, render_failure

WRONG = [
    # wrong types and ranges
    (("broker.replicas=two",), "/broker/replicas': got string, want integer"),
    (("gateway.workers=0",), "/gateway/workers': minimum"),
    (("settings.maxTokenTtl=7200",), "/settings/maxTokenTtl': maximum"),
    (("vault.auth=ldap",), "/vault/auth': value must be one of"),
    (("networkPolicy.enabled=maybe",), "/networkPolicy/enabled': got string, want boolean"),
    (("vault.address=vault:8200",), "/vault/address'"),
    (("gateway.publicUrl=gateway.example.com",), "/gateway/publicUrl'"),
    (("gateway.publicUrl=https://gw.example.com/?x=1",), "/gateway/publicUrl'"),
    (("image.digest=latest",), "/image/digest'"),
    (("networkPolicy.agentEgress.podSelector=null",), "agentEgress.podSelector must name"),
    # unknown keys
    (("broker.replica=2",), "additional properties 'replica' not allowed"),
    (("colour=blue",), "additional properties 'colour' not allowed"),
    (("settings.database_url=postgresql://x",), "additional properties 'database_url'"),
    (
        (
            "gateway.providers[0].name=x",
            "gateway.providers[0].route_map=x",
            "gateway.providers[0].secret=abc",
        ),
        "additional properties 'secret' not allowed",
    ),
    (("networkPolicy.providers[1].host=api.github.com",), "missing properties 'cidr', 'ports'"),
]

MISSING = [
    (("database.existingSecret=",), "database.existingSecret is required"),
    (("vault.address=",), "vault.address is required"),
    (("vault.kubernetes.role=",), "vault.kubernetes.role is required"),
    (("vault.auth=approle",), "vault.approle.existingSecret is required"),
    (("vault.auth=token",), "vault.token.existingSecret is required"),
    (("gateway.providers=null",), "gateway.providers is required"),
    (("networkPolicy.postgresql.to=null",), "networkPolicy.postgresql.to is required"),
    (("networkPolicy.vault.to=null",), "networkPolicy.vault.to is required"),
    (("tests.enabled=true",), "tests.template and tests.environment are required"),
    (("broker.ingress.enabled=true",), "broker.ingress.hosts: list at least one host"),
    (
        ("broker.autoscaling.enabled=true", "broker.autoscaling.minReplicas=9"),
        "minReplicas (9) is more than maxReplicas (6)",
    ),
    (("serviceAccount.create=false",), "serviceAccount.name: name an existing ServiceAccount"),
]


@pytest.mark.parametrize(("sets", "message"), WRONG + MISSING, ids=lambda v: str(v)[:60])
def test_bad_values_fail_helm_template(sets: tuple[str, ...], message: str) -> None:
    assert message in render_failure("minimal", *sets)


def test_production_defaults_name_every_required_value_at_once() -> None:
    message = render_failure(None, "mode=production")
    required = [
        "database.existingSecret is required",
        "vault.address is required",
        "gateway.providers is required",
        "networkPolicy.providers (or gateway.providersEgress) is required",
        "networkPolicy.postgresql.to is required",
        "networkPolicy.vault.to is required",
    ]
    assert [r for r in required if r not in message] == []
    assert f"{len(required)} value(s) to set or fix (mode production)" in message


LINTED = ("broker.replicas=two", "gateway.workers=0", "settings.maxTokenTtl=7200", "colour=blue")


@pytest.mark.parametrize(
    ("sets", "message"), [w for w in WRONG if w[0][0] in LINTED], ids=lambda v: str(v)[:60]
)
def test_schema_errors_fail_helm_lint_strict(sets: tuple[str, ...], message: str) -> None:
    args = ["lint", "--strict", str(CHART), "-f", str(VALUE_SETS["minimal"])]
    for s in sets:
        args += ["--set", s]
    done = helm(*args)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
