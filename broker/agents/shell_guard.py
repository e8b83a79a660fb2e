"""Does a shell command carry a raw provider credential, or call the provider around the
gateway? (Cursor's ``beforeShellExecution`` asks this before each command.)

Pure and deliberately coarse: it reads the command text, so it catches the plain cases
(a literal bearer token, ``RAILWAY_TOKEN=<literal>``, the provider's real host) and is a
seatbelt, not a boundary: the gateway's master key never leaves the gateway, which is the
boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A credential written into the command: a header value, a --token flag or an assignment
# to a name that reads as a secret, whose value is a literal (not $VAR) of 8+ characters.
_LITERAL = re.compile(
    r"""(?ix)
    (?: authorization \s*:\s* (?:bearer|token|basic) \s+
      | (?:project-access-token|x-api-key|private-token) \s*:\s*
      | --token[= ]\s*
      | \b[a-z0-9_]*(?:token|secret|api_key|apikey|password)[a-z0-9_]* = )
    ["']? (?P<value>[^\s"'$`][^\s"'`]{7,})
    """
)
# Steering around the forward proxy: clearing or setting the proxy variables, curl's and
# git's own proxy switches, a trust store or TLS check of the command's own choosing.
_AROUND_PROXY = re.compile(
    r"""(?x)
    (?i:\b(?:https?_proxy|all_proxy|no_proxy|ssl_cert_file|requests_ca_bundle|curl_ca_bundle
        |node_extra_ca_certs|git_ssl_cainfo|node_tls_reject_unauthorized)\s*=)
    | \bunset\b[^;&|]*(?i:\b(?:https?_proxy|all_proxy)\b)
    | \benv\b[^;&|]*\s(?:-u\s*|--unset[= ])(?i:(?:https?_proxy|all_proxy)\b)
    | \bcurl\b[^;&|]*\s(?:--noproxy|--proxy|-x|--insecure|-k|--cacert|--capath)(?:[\s=]|$)
    | (?i:\bhttp\.(?:proxy|sslverify|sslcainfo)\b)
    """
)
# capbroker's own tokens are JWTs: three base64url parts.
_JWT = re.compile(r"^eyJ[\w-]+\.[\w-]+\.[\w-]+$")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def judge(
    command: str,
    hosts: tuple[str, ...],
    protected: tuple[str, ...] = (),
    *,
    proxied: bool = False,
) -> Verdict:
    """``protected``: text no command may name (the agent credential's file and variable).
    ``proxied``: the session goes through the forward proxy, so the provider's real host
    is how calls are made; a command that steers around the proxy is refused instead."""
    for text in protected:
        if text in command:
            return Verdict(False, "reads the agent credential, which is not the agent's to use")
    lowered = command.lower()
    if proxied and _AROUND_PROXY.search(command):
        return Verdict(
            False,
            "changes or bypasses the proxy settings; the session's calls go through "
            "capbroker's proxy as they are",
        )
    for host in () if proxied else hosts:
        if host.lower() in lowered:
            return Verdict(
                False,
                f"calls {host} directly; go through the gateway ($<PROVIDER>_API_URL, "
                "with $<PROVIDER>_TOKEN)",
            )
    for match in _LITERAL.finditer(command):
        if not _JWT.match(match.group("value")):
            return Verdict(
                False,
                "carries a literal credential; use the session's $<PROVIDER>_TOKEN "
                "(capbroker session status shows what it allows)",
            )
    return Verdict(True)
