"""The request log's description of GraphQL documents, and its redaction guard."""

from __future__ import annotations

from graphql import OperationDefinitionNode, parse
from hypothesis import given
from hypothesis import strategies as st

from broker.demo.provider.requestlog import REDACTED, LoggedOperation, RequestLog, describe_document


def test_describes_every_operation_with_fragments_expanded() -> None:
    document = parse(
        "query A { x: projects { id } ...F ... on Query { volume(id: 1) { id } } }"
        " mutation B { volumeDelete(volumeId: 1) a: volumeBackupDelete(backupId: 2) }"
        " fragment F on Query { environments(projectId: 1) { id } ...G }"
        " fragment G on Query { ...F services(projectId: 1) { id } }"
    )
    mutation = document.definitions[1]
    assert isinstance(mutation, OperationDefinitionNode)
    assert describe_document(document, mutation) == [
        LoggedOperation("query", "A", ("projects", "environments", "services", "volume"), False),
        LoggedOperation("mutation", "B", ("volumeDelete", "volumeBackupDelete"), True),
    ]


def test_anonymous_operation() -> None:
    [op] = describe_document(parse("{ projects { id } }"))
    assert op == LoggedOperation("query", None, ("projects",), False)


@given(secret=st.text(alphabet="abcdefXYZ0123456789-_", min_size=8, max_size=40))
def test_configured_secrets_never_survive_in_an_entry(secret: str) -> None:
    log = RequestLog(redact=(secret,))
    entry = log.record(
        at=0.0,
        method="post",
        path=f"/x/{secret}/y",
        auth="invalid",
        status=401,
        operations=[LoggedOperation("query", f"N{secret}", (secret, "projects"))],
    )
    text = repr(entry) + str(entry.to_json())
    assert secret not in text
    assert REDACTED in entry.path
    assert entry.method == "POST"


def test_log_is_bounded_and_clear_restarts_numbering() -> None:
    log = RequestLog(max_entries=3)
    for i in range(5):
        log.record(at=float(i), method="GET", path="/graphql", auth="ok", status=200)
    assert [e.seq for e in log.entries()] == [3, 4, 5]
    log.clear()
    assert log.entries() == []
    assert log.record(at=0.0, method="GET", path="/", auth="ok", status=200).seq == 1
