"""The names of the variables a session through the forward proxy sets (``exec --proxy``,
``session start --proxy``), for the tools whose configuration must let them through."""

from __future__ import annotations

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
# Read as the whole trust store: they get the system's CAs and capbroker's. OpenSSL and
# Go (SSL_CERT_FILE), Python requests, curl, git; Codex (CODEX_CA_CERTIFICATE, before
# SSL_CERT_FILE), pip, npm, cargo and the AWS SDKs (docs/agents.md names the sources).
BUNDLE_VARS = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "CODEX_CA_CERTIFICATE",
    "PIP_CERT",
    "NPM_CONFIG_CAFILE",
    "CARGO_HTTP_CAINFO",
    "AWS_CA_BUNDLE",
)
# Read as extra CAs on top of the tool's own store (Node).
EXTRA_CA_VARS = ("NODE_EXTRA_CA_CERTS",)
# Node 24 (and 22.21) reads the proxy variables only when told to (fetch and http/https);
# older Node ignores it, and its tools need a proxy agent of their own (undici's).
SWITCHES = {"NODE_USE_ENV_PROXY": "1"}
ALL_PROXY_VARS = (*PROXY_VARS, *NO_PROXY_VARS, *BUNDLE_VARS, *EXTRA_CA_VARS, *SWITCHES)
