"""The seed is plain data: deterministic ids, the incident's shapes, no token in it."""

from __future__ import annotations

import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from broker.demo.provider.requestlog import REDACTED, RequestLog
from broker.demo.railway import IDS, railway_seed
from broker.demo.railway.service import redact_headers

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ids_are_uuids_and_the_same_in_every_seed() -> None:
    ids = IDS.to_json()
    assert all(UUID.match(value) for value in ids.values())
    assert len(set(ids.values())) == len(ids)
    one, two = railway_seed("key-one", now=0.0), railway_seed("key-two", now=100.0)
    assert list(one.projects) == list(two.projects) == [IDS.shop, IDS.blog]
    assert list(one.variables) == list(two.variables)
    assert uuid.UUID(IDS.shop).version == 5


def test_the_seed_has_the_incident_s_shapes() -> None:
    t = railway_seed("key", now=0.0)
    shared = [i for i in t.volume_instances.values() if i.volume_id == IDS.shared_volume]
    assert {i.environment_id for i in shared} == {IDS.shop_staging, IDS.shop_production}
    [backup] = t.backups.values()
    assert backup.volume_instance_id == IDS.production_instance
    names = {(t.projects[e.project_id].name, e.name) for e in t.environments.values()}
    assert names == {
        ("shop", "staging"),
        ("shop", "production"),
        ("blog", "staging"),
        ("blog", "production"),
    }


@given(token=st.text(alphabet="abcdefXYZ0123456789-_", min_size=12, max_size=40))
def test_no_token_is_kept_in_the_seed(token: str) -> None:
    tables = railway_seed(
        token,
        now=0.0,
        workspace_token=token + "w",
        project_tokens={token + "p": (IDS.shop, IDS.shop_staging)},
    )
    assert token not in repr(tables)


@given(secret=st.text(alphabet="abcdefXYZ0123456789-_", min_size=8, max_size=40))
def test_headers_and_bodies_are_scrubbed_in_the_log(secret: str) -> None:
    log = RequestLog(redact=(secret,))
    headers = redact_headers(
        [("Authorization", f"Bearer {secret}"), ("X-Echo", f"a{secret}b"), ("Cookie", secret)]
    )
    entry = log.record(
        at=0.0,
        method="POST",
        path="/graphql/v2",
        auth="ok",
        status=200,
        headers=headers,
        body=f'{{"query": "{secret}"}}',
    )
    assert secret not in repr(entry) + str(entry.to_json())
    assert entry.headers == (
        ("authorization", f"Bearer {REDACTED}"),
        ("x-echo", f"a{REDACTED}b"),
        ("cookie", REDACTED),
    )
