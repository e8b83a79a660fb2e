"""Lookups and the result path language."""

from __future__ import annotations

import pytest

from broker.errors import BrokerError
from broker.routemap import refusal_code
from broker.routemap.resultpath import ResultPathError, parse_result_path

from .support import demo, github

VOLUME = {"data": {"volume": {"environments": [{"name": "staging"}, {"name": "production"}]}}}


def test_volume_lookup_request_and_answer() -> None:
    lookup = demo().lookups["volumeEnvironments"]
    req = lookup.request({"volumeId": "vol-pg"})
    assert (req.method, req.path) == ("POST", "/graphql")
    assert req.json is not None
    assert req.json["variables"] == {"id": "vol-pg"}
    assert lookup.extract(200, VOLUME, {"volumeId": "vol-pg"}) == ("staging", "production")


def test_backup_filter() -> None:
    lookup = demo().lookups["backupVolumeEnvironments"]
    answer = {
        "data": {
            "projects": [
                {
                    "volumes": [
                        {"environments": [{"name": "staging"}], "backups": [{"id": "b2"}]},
                        {
                            "environments": [{"name": "staging"}, {"name": "production"}],
                            "backups": [{"id": "b1"}],
                        },
                    ]
                }
            ]
        }
    }
    assert lookup.extract(200, answer, {"backupId": "b1"}) == ("staging", "production")
    with pytest.raises(BrokerError) as caught:
        lookup.extract(200, answer, {"backupId": "b9"})
    assert refusal_code(caught.value) == "environment_unresolved"


def test_rest_lookup_encodes_parameters() -> None:
    lookup = github().lookups["deploymentNode"]
    req = lookup.request({"owner": "a", "repo": "b/../c", "deployment_id": "1"})
    assert req.path == "/repos/a/b%2F..%2Fc/deployments/1"
    assert lookup.extract(200, {"node_id": "DE_1", "environment": "x"}, {}) == ("DE_1",)


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (500, VOLUME),
        (200, {"errors": [{"message": "x"}], "data": None}),
        (200, {"data": {"volume": None}}),
        (200, {"data": {"volume": {"environments": []}}}),
        (200, {"data": {"volume": {"environments": [{"name": 3}]}}}),
    ],
)
def test_unresolved_answers(status: int, answer: object) -> None:
    with pytest.raises(BrokerError) as caught:
        demo().lookups["volumeEnvironments"].extract(status, answer, {"volumeId": "v"})
    assert refusal_code(caught.value) == "environment_unresolved"


@pytest.mark.parametrize("bad", ["", "a..b", "a[", "a[x]", "a[?b=c]", "1a", "a[*]]"])
def test_bad_result_paths(bad: str) -> None:
    with pytest.raises(ResultPathError):
        parse_result_path(bad)


def test_index_selector() -> None:
    assert parse_result_path("a[1].n").evaluate({"a": [{"n": "x"}, {"n": "y"}]}, {}) == ("y",)
