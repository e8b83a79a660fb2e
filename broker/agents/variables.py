"""The names of the variables a session through the forward proxy sets (``exec --proxy``,
``session start --proxy``), for the tools whose configuration must let them through."""

from __future__ import annotations

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
# Read as the whole trust store: they get the system's CAs and capbroker's.
BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")
# Read as extra CAs on top of the tool's own store (Node).
EXTRA_CA_VARS = ("NODE_EXTRA_CA_CERTS",)
ALL_PROXY_VARS = (*PROXY_VARS, *NO_PROXY_VARS, *BUNDLE_VARS, *EXTRA_CA_VARS)
