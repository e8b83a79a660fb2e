"""What the proxy itself decides, as pure functions of plain values: which provider a
CONNECT names, the proxy credentials it carries, and whether a request inside the tunnel
carries only the tunnel's own token. Everything else is the pipeline's."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from broker.errors import Denied, InvalidRequest, Reason, Unauthenticated
from broker.gateway.headers import RawHeaders
from broker.gateway.route import ProviderRoute

HTTPS_PORT = 443
HTTP_PORT = 80
PROXY_USER = "capbroker"  # the user name tools put before the token (any is accepted)


@dataclass(frozen=True, slots=True)
class Authority:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_authority(target: bytes) -> Authority:
    """``host:port`` of a CONNECT (RFC 9110 section 9.3.6: the authority form only)."""
    text = target.decode("ascii", "replace")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidRequest("CONNECT needs host:port", extra={"refusal": "malformed_connect"})
    return Authority(host.lower().rstrip("."), int(port))


def parse_absolute(target: bytes) -> tuple[Authority, str]:
    """The authority and origin-form target of a plain-HTTP proxy request
    (``http://host[:port]/path?query``, RFC 9112 section 3.2.2). Only ``http``, and no
    user info: ``http://a@b/`` names two hosts to two readers."""
    text = target.decode("ascii", "replace")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() != "http":
        raise InvalidRequest(
            "this proxy takes CONNECT for HTTPS, and absolute-form http:// URLs",
            extra={"refusal": "proxy_method_not_supported"},
        )
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, origin = rest[:end], rest[end:]
    if not authority or "@" in authority or "\\" in authority or origin.startswith("#"):
        raise InvalidRequest("not a plain http:// URL", extra={"refusal": "malformed_http"})
    host, sep, port = authority.rpartition(":")
    if not sep:
        host, port = authority, str(HTTP_PORT)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidRequest("not a plain http:// URL", extra={"refusal": "malformed_http"})
    if not origin.startswith("/"):
        origin = "/" + origin
    return Authority(host.lower().rstrip("."), int(port)), origin


def host_index(providers: Mapping[str, ProviderRoute]) -> dict[str, ProviderRoute]:
    """Public host name -> the provider that answers for it."""
    return {host: route for route in providers.values() for host in route.hosts}


def named_route(
    index: Mapping[str, ProviderRoute], authority: Authority, port: int = HTTPS_PORT
) -> ProviderRoute:
    """The provider for a CONNECT's host (or a plain request's, on ``port`` 80); any other
    host, or another port, is refused: the proxy is an egress allowlist, not an open relay."""
    route = index.get(authority.host)
    if route is None or authority.port != port:
        raise Denied(
            f"{authority} is not a host this gateway answers for",
            reason=Reason.UNKNOWN_ROUTE,
            extra={"refusal": "host_not_allowed"},
        )
    return route


def proxy_token(headers: RawHeaders) -> str:
    """The capability token from ``Proxy-Authorization: Basic`` (the password part), or
    ``Unauthenticated`` (answered with 407)."""
    values = [v for k, v in headers if k.lower() == b"proxy-authorization"]
    if len(values) != 1:
        raise Unauthenticated("the proxy needs the session's capability token as credentials")
    scheme, _, encoded = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthenticated("proxy credentials must be Basic, with the token as password")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("proxy credentials are not valid Basic credentials") from None
    _, sep, token = decoded.partition(":")
    if not sep or not token:
        raise Unauthenticated("proxy credentials must carry the token as password")
    return token


def repeated_length(head: bytes) -> bool:
    """Whether a raw request head names Content-Length more than once, or as a list.

    h11 takes ``Content-Length: 5`` twice (or ``5, 5``) as one length, as RFC 9112
    section 6.3 lets a recipient; path mode's parser refuses both, and so must the
    tunnel, or the two front ends would give different verdicts for the same bytes."""
    block = head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lengths = [
        value
        for name, _, value in (line.partition(b":") for line in block.split(b"\n")[1:])
        if name.strip().lower() == b"content-length"
    ]
    return len(lengths) > 1 or any(b"," in value for value in lengths)


def credential_headers(route: ProviderRoute) -> frozenset[bytes]:
    """Every header a credential may arrive in inside the tunnel."""
    names = {b"authorization", b"proxy-authorization"}
    names.update(h.encode("ascii") for h in route.route_map.auth_headers())
    return frozenset(names)


def tunnel_headers(
    headers: RawHeaders, token: str, credentials: frozenset[bytes]
) -> list[tuple[bytes, bytes]]:
    """The request's headers for the pipeline: any credential header dropped (after
    checking it carries the tunnel's own token, with or without a scheme word such as
    ``Bearer``), and the tunnel's token added as the one ``Authorization``: ``DPoP`` when
    the request's own Authorization said so (its ``DPoP`` proof header is kept for the
    pipeline to check, RFC 9449), else ``Bearer``."""
    expected = token.encode("latin-1")
    scheme = b"Bearer"
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name.lower() not in credentials:
            kept.append((name, value))
            continue
        parts = value.strip().split(None, 1)
        if not parts or not hmac.compare_digest(parts[-1].strip(), expected):
            raise foreign_credential()
        if name.lower() == b"authorization" and len(parts) == 2 and parts[0].lower() == b"dpop":
            scheme = b"DPoP"
    kept.append((b"authorization", scheme + b" " + expected))
    return kept


def foreign_credential() -> Denied:
    return Denied(
        "a request in this tunnel carries a credential other than the tunnel's token",
        reason=Reason.TOKEN_INVALID,
        extra={"refusal": "foreign_credential"},
    )


def host_mismatch() -> InvalidRequest:
    return InvalidRequest(
        "the request names another host than its connection's",
        extra={"refusal": "host_mismatch"},
    )
