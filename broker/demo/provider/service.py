"""The provider's HTTP behaviour as plain values in, plain ``Reply`` out (no framework types).

``app.py`` adapts this to Litestar; tests of the behaviour can call it directly.

Status codes: 401 for a missing or wrong key; 400 for a request that cannot be run
(bad JSON, no query, syntax or validation errors, ambiguous operation); 405 for a mutation
over GET; 200 otherwise, with execution errors (unknown ids) in ``errors`` like real GraphQL
servers. A batched JSON array gets 200 and one result per item.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)

from broker.clock import Clock
from broker.demo.provider.requestlog import (
    AuthResult,
    LoggedOperation,
    RequestLog,
    describe_document,
)
from broker.demo.provider.schema import build_provider_schema, field_resolver
from broker.demo.provider.state import ProviderState

JSON = Any
GRAPHQL_PATH = "/graphql"


@dataclass(frozen=True)
class Reply:
    status: int
    body: JSON
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: JSON
    operations: tuple[LoggedOperation, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


def _errors(message: str, **extensions: str) -> JSON:
    error: dict[str, JSON] = {"message": message}
    if extensions:
        error["extensions"] = extensions
    return {"errors": [error]}


class ProviderService:
    """One provider: its state, its request log, its master key and admin token."""

    def __init__(
        self,
        master_key: str,
        admin_token: str,
        *,
        clock: Clock,
        state: ProviderState | None = None,
        log: RequestLog | None = None,
        echo_auth_header_in_errors: bool = False,
    ) -> None:
        if not master_key or not admin_token:
            raise ValueError("the master key and the admin token must be non-empty")
        if hmac.compare_digest(master_key.encode(), admin_token.encode()):
            raise ValueError("the admin token must differ from the master key")
        self._master_key = master_key.encode()
        self._admin_token = admin_token.encode()
        self._clock = clock
        self.state = state if state is not None else ProviderState(clock)
        self.log = log if log is not None else RequestLog(redact=(master_key, admin_token))
        self.echo_auth_header_in_errors = echo_auth_header_in_errors
        self._schema = build_provider_schema()

    def __repr__(self) -> str:
        return f"ProviderService(echo_auth_header_in_errors={self.echo_auth_header_in_errors})"

    # --- GraphQL -----------------------------------------------------------------------

    def graphql(
        self,
        method: str,
        authorization: str | None,
        *,
        path: str = GRAPHQL_PATH,
        body: bytes = b"",
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """``POST`` with a JSON body (object or batched array) or ``GET`` with query params."""
        method = method.upper()
        auth = self._check(authorization, self._master_key)
        batch_size: int | None = None
        if method == "GET":
            outcome = self._get(params or {}, run=auth == "ok")
        else:
            outcome, batch_size = self._post(body, run=auth == "ok")
        if auth != "ok":
            outcome = _Outcome(401, self._unauthorized(authorization), outcome.operations)
        self.log.record(
            at=self._clock(),
            method=method,
            path=path,
            auth=auth,
            status=outcome.status,
            operations=outcome.operations,
            batch_size=batch_size,
        )
        headers = dict(outcome.headers)
        if outcome.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="demo-provider"'
        return Reply(outcome.status, outcome.body, headers)

    def record_other(self, method: str, path: str, authorization: str | None, status: int) -> None:
        """A request to a path the provider does not serve (404/405): logged, nothing else."""
        auth = self._check(authorization, self._master_key)
        self.log.record(at=self._clock(), method=method, path=path, auth=auth, status=status)

    def _post(self, body: bytes, *, run: bool) -> tuple[_Outcome, int | None]:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _Outcome(400, _errors("Request body is not valid JSON.")), None
        if not isinstance(payload, list):
            return self._one(payload, run=run, allow_mutation=True), None
        if not payload:
            return _Outcome(400, _errors("A batched request needs at least one item.")), 0
        outcomes = [self._one(item, run=run, allow_mutation=True) for item in payload]
        operations = tuple(op for o in outcomes for op in o.operations)
        return _Outcome(200, [o.body for o in outcomes], operations), len(payload)

    def _get(self, params: Mapping[str, str], *, run: bool) -> _Outcome:
        payload: dict[str, JSON] = {
            "query": params.get("query"),
            "operationName": params.get("operationName"),
        }
        raw_variables = params.get("variables")
        if raw_variables:
            try:
                payload["variables"] = json.loads(raw_variables)
            except ValueError:
                return _Outcome(400, _errors("The variables parameter is not valid JSON."))
        return self._one(payload, run=run, allow_mutation=False)

    def _one(self, payload: JSON, *, run: bool, allow_mutation: bool) -> _Outcome:
        if not isinstance(payload, dict):
            return _Outcome(400, _errors("A GraphQL request must be a JSON object."))
        query, variables, name = (
            payload.get("query"),
            payload.get("variables"),
            payload.get("operationName"),
        )
        if not isinstance(query, str) or not query:
            return _Outcome(400, _errors("A GraphQL request needs a query string."))
        if variables is not None and not isinstance(variables, dict):
            return _Outcome(400, _errors("variables must be a JSON object."))
        if name is not None and not isinstance(name, str):
            return _Outcome(400, _errors("operationName must be a string."))
        try:
            document = parse(query)
        except GraphQLError as exc:
            return _Outcome(400, {"errors": [exc.formatted]})
        operation = get_operation_ast(document, name)
        if operation is None:
            message = "Unknown operation name." if name else "Must provide an operation name."
            return _Outcome(400, _errors(message), tuple(describe_document(document)))
        if not allow_mutation and operation.operation != OperationType.QUERY:
            return _Outcome(
                405,
                _errors("Only queries may be sent with GET; use POST."),
                tuple(describe_document(document)),
                {"Allow": "POST"},
            )
        problems = validate(self._schema, document)
        if problems:
            errors = [e.formatted for e in problems]
            return _Outcome(400, {"errors": errors}, tuple(describe_document(document)))
        if not run:
            return _Outcome(401, None, tuple(describe_document(document)))
        return self._execute(document, operation, variables, name)

    def _execute(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, JSON] | None,
        name: str | None,
    ) -> _Outcome:
        with self.state.lock:
            result = execute_sync(
                self._schema,
                document,
                context_value=self.state,
                variable_values=variables,
                operation_name=name,
                field_resolver=field_resolver,
            )
        body: dict[str, JSON] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        # Errors without a path (variable coercion) stop execution before any field runs.
        before_any_field = result.data is None and all(e.path is None for e in result.errors or [])
        ran = None if before_any_field else operation
        return _Outcome(200, body, tuple(describe_document(document, ran)))

    # --- admin -------------------------------------------------------------------------

    def admin_requests(self, authorization: str | None) -> Reply:
        if self._check(authorization, self._admin_token) != "ok":
            return Reply(401, _errors("The admin token is required."))
        return Reply(200, {"requests": [e.to_json() for e in self.log.entries()]})

    def admin_reset(self, authorization: str | None) -> Reply:
        """Reseed the state and clear the request log."""
        if self._check(authorization, self._admin_token) != "ok":
            return Reply(401, _errors("The admin token is required."))
        self.state.reset()
        self.log.clear()
        return Reply(200, {"reset": True})

    # --- auth --------------------------------------------------------------------------

    @staticmethod
    def _check(authorization: str | None, expected: bytes) -> AuthResult:
        if authorization is None or not authorization.strip():
            return "missing"
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return "invalid"
        ok = hmac.compare_digest(credential.strip().encode(), expected)
        return "ok" if ok else "invalid"

    def _unauthorized(self, authorization: str | None) -> JSON:
        if not self.echo_auth_header_in_errors:
            return _errors("Not Authorized", code="UNAUTHENTICATED")
        # TEST ONLY: echo what the caller sent, so gateway tests can prove they redact it.
        echoed = authorization or ""
        return _errors(
            f"Not Authorized (received Authorization: {echoed})",
            code="UNAUTHENTICATED",
            receivedAuthorization=echoed,
        )
