"""Workload identity: agents authenticate with a token their platform gives them.

RFC 8693 token exchange with ``subject_token_type`` ``...:token-type:jwt`` or
``...:id_token``; trusted issuers come from ``TrustedIssuer`` documents (the
``trusted_issuers_file`` setting). Pure parts: ``rules`` (claims -> agent name) and
``claims``; I/O: ``keys`` (JWKS fetch and cache) and ``exchange`` (principals).
"""

from broker.identity.claims import WorkloadIdentity, check_workload_claims
from broker.identity.exchange import (
    ID_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    WORKLOAD_TOKEN_TYPES,
    WorkloadExchange,
)
from broker.identity.issuers import TrustedIssuer, load_issuers, parse_issuers
from broker.identity.rules import AgentRule, agent_name

__all__ = [
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "WORKLOAD_TOKEN_TYPES",
    "AgentRule",
    "TrustedIssuer",
    "WorkloadExchange",
    "WorkloadIdentity",
    "agent_name",
    "check_workload_claims",
    "load_issuers",
    "parse_issuers",
]
