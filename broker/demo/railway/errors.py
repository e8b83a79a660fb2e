"""The replica's errors; each becomes one GraphQL error in the response (HTTP 200)."""

from __future__ import annotations


class ReplicaError(Exception):
    """A GraphQL error with a message the caller sees and an ``extensions.code``."""

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAuthorized(ReplicaError):
    """No valid token, or the object is outside the token's reach.

    The message is the real API's: the Railway CLI (``src/client.rs``, ``post_graphql``)
    treats any error whose message contains "not authorized" as an authentication failure.
    """

    code = "UNAUTHORIZED"

    def __init__(self) -> None:
        super().__init__("Not Authorized")


class NotFound(ReplicaError):
    code = "NOT_FOUND"

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} not found")


class BadInput(ReplicaError):
    code = "BAD_USER_INPUT"


class NotImplementedByReplica(ReplicaError):
    """A field of the real schema the replica does not serve: an error, never a fake value."""

    code = "NOT_IMPLEMENTED"

    def __init__(self, type_name: str, field_name: str) -> None:
        super().__init__(f"{type_name}.{field_name} is not implemented by the replica")
