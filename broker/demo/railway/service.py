"""The replica's HTTP behaviour: plain values in (method, path, headers, body), a ``Reply`` out.

``POST /graphql/v2`` (the real API's path) takes one GraphQL request as a JSON object:

- a body that is not such an object, a syntax error, or a document the real schema refuses
  (an unknown field, a wrong argument name or type) answers 400 with GraphQL errors, before
  any token is looked at, as a GraphQL server validates before it executes;
- a missing or wrong token answers HTTP 200 with ``data: null`` and one "Not Authorized"
  error per root field. Why 200 and not 401: Railway checks credentials in its resolvers,
  and its own CLI (``src/client.rs``, ``post_graphql``) reads the JSON body whatever the
  status and recognises the failure by that message, so that is the shape clients meet;
- otherwise 200 with ``data`` and, for failed fields, ``errors`` (each with ``path`` and
  ``extensions.code``).

Every request that reaches a provider path is logged (method, path, headers with credential
values redacted, body, auth result, status, operations). ``/_demo/requests`` and
``/_demo/reset`` need the admin token and are not logged.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLFormattedError,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)

from broker.clock import Clock
from broker.demo.provider.requestlog import LoggedOperation, RequestLog, describe_document
from broker.demo.provider.service import Reply
from broker.demo.railway.access import Access, credential
from broker.demo.railway.resolvers import resolve_field
from broker.demo.railway.schema import railway_schema
from broker.demo.railway.state import RailwayState

GRAPHQL_PATH = "/graphql/v2"
MAX_LOGGED_BODY = 65_536
REDACTED = "[redacted]"
_CREDENTIAL_HEADERS = frozenset({"project-access-token", "cookie", "x-api-key"})

Headers = Sequence[tuple[str, str]]


def _errors(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def redact_headers(headers: Headers) -> list[tuple[str, str]]:
    """Names kept; credential values replaced (``Bearer`` stays, so the scheme is visible)."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower == "authorization":
            scheme = value.strip().partition(" ")[0]
            value = f"{scheme} {REDACTED}" if scheme.lower() == "bearer" else REDACTED
        elif lower in _CREDENTIAL_HEADERS:
            value = REDACTED
        out.append((lower, value))
    return out


@lru_cache(maxsize=1024)
def checked_document(query: str) -> tuple[DocumentNode | None, tuple[GraphQLFormattedError, ...]]:
    """The parsed document (None if it does not parse) and the real schema's objections.

    Cached by query text: validating against a schema of this size is most of the cost of
    an answer, and clients (the gateway's lookups, the benchmark) send the same few
    documents again and again. Safe: the schema never changes and execution does not
    change a document."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc.formatted,)
    problems = validate(railway_schema(), document)
    return document, tuple(e.formatted for e in problems)


class RailwayService:
    """One replica: its state, its request log, its admin token."""

    def __init__(
        self, state: RailwayState, admin_token: str, *, clock: Clock, log: RequestLog
    ) -> None:
        if not admin_token:
            raise ValueError("the admin token must be non-empty")
        self.state = state
        self.log = log
        self._admin_token = admin_token.encode()
        self._clock = clock
        self._schema = railway_schema()

    def __repr__(self) -> str:
        return f"RailwayService({self.state!r})"

    def graphql(self, path: str, headers: Headers, body: bytes) -> Reply:
        by_name = {name.lower(): value for name, value in headers}
        presented, access = self.state.authenticate(credential(by_name))
        status, reply_body, operations = self._run(body, access)
        self.log.record(
            at=self._clock(),
            method="POST",
            path=path,
            auth=presented,
            status=status,
            operations=operations,
            headers=redact_headers(headers),
            body=body[:MAX_LOGGED_BODY].decode("utf-8", errors="replace"),
        )
        return Reply(status, reply_body)

    def record_other(self, method: str, path: str, headers: Headers, status: int) -> None:
        """A request the replica does not serve (path, method, size): logged, nothing else."""
        by_name = {name.lower(): value for name, value in headers}
        presented, _ = self.state.authenticate(credential(by_name))
        self.log.record(
            at=self._clock(),
            method=method,
            path=path,
            auth=presented,
            status=status,
            headers=redact_headers(headers),
        )

    def _run(self, body: bytes, access: Access | None) -> tuple[int, Any, list[LoggedOperation]]:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400, _errors("Request body is not valid JSON.", "BAD_REQUEST"), []
        if not isinstance(payload, dict):
            message = "A request must be one JSON object (batches are not supported)."
            return 400, _errors(message, "BAD_REQUEST"), []
        query, variables, name = (payload.get(k) for k in ("query", "variables", "operationName"))
        if not isinstance(query, str) or not query:
            return 400, _errors("Must provide query string.", "BAD_REQUEST"), []
        if variables is not None and not isinstance(variables, dict):
            return 400, _errors("variables must be a JSON object.", "BAD_REQUEST"), []
        if name is not None and not isinstance(name, str):
            return 400, _errors("operationName must be a string.", "BAD_REQUEST"), []
        document, problems = checked_document(query)
        if document is None:
            return 400, {"errors": list(problems)}, []
        described = describe_document(document)
        if problems:
            return 400, {"errors": list(problems)}, described
        operation = get_operation_ast(document, name)
        if operation is None:
            message = "Unknown operation name." if name else "Must provide operation name."
            return 400, _errors(message, "BAD_REQUEST"), described
        with self.state.lock:
            call = None if access is None else self.state.call(access)
            result = execute_sync(
                self._schema,
                document,
                context_value=call,
                variable_values=variables,
                operation_name=name,
                field_resolver=resolve_field,
            )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        # Errors without a path (variable coercion) stop execution before any field runs.
        ran = result.data is not None or any(e.path for e in result.errors or [])
        ran = ran and call is not None  # "Not Authorized" everywhere: nothing ran
        return 200, out, describe_document(document, operation if ran else None)

    # --- admin ---------------------------------------------------------------------------

    def _admin(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._admin_token
        )

    def admin_requests(self, authorization: str | None) -> Reply:
        if not self._admin(authorization):
            return Reply(401, _errors("The admin token is required.", "UNAUTHENTICATED"))
        return Reply(200, {"requests": [e.to_json() for e in self.log.entries()]})

    def admin_reset(self, authorization: str | None) -> Reply:
        """Reseed the state and clear the request log."""
        if not self._admin(authorization):
            return Reply(401, _errors("The admin token is required.", "UNAUTHENTICATED"))
        self.state.reset()
        self.log.clear()
        return Reply(200, {"reset": True})
