"""A local OIDC-style issuer for workload-identity tests: its own keys, a JWKS endpoint on a
real socket on 127.0.0.1, and tokens in the shapes Kubernetes (projected service-account
tokens) and GitHub Actions (OIDC tokens) issue. Tokens are signed with PyJWT, as the
platform's own code (not capbroker's) would sign them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.tokens._jwk import required_members

Private = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class IssuerKey:
    kid: str
    alg: str
    private: Private = field(repr=False)

    def jwk(self) -> dict[str, Any]:
        # GitHub and Kubernetes publish alg and use; their kids are not thumbprints.
        return {
            **required_members(self.private.public_key()),
            "kid": self.kid,
            "alg": self.alg,
            "use": "sig",
        }


def new_key(alg: str = "RS256") -> IssuerKey:
    private: Private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return IssuerKey(f"kid-{uuid.uuid4().hex[:12]}", alg, private)


class LocalIssuer:
    """``url`` is the issuer (``iss``); ``jwks_uri`` serves the published keys."""

    def __init__(self) -> None:
        self.keys: list[IssuerKey] = [new_key()]
        self.fetches = 0
        self.down = False
        self.delay = 0.0  # seconds the JWKS endpoint waits before answering
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if issuer.down:
                    self.send_error(503)
                    return
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.jwks_uri}
                elif self.path == "/openid/v1/jwks":
                    issuer.fetches += 1
                    time.sleep(issuer.delay)
                    body = {"keys": [k.jwk() for k in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True  # stop() does not wait for a delayed answer
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_uri = f"{self.url}/openid/v1/jwks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sign(self, claims: dict[str, Any], *, key: IssuerKey | None = None, **header: Any) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            claims, key.private, algorithm=key.alg, headers={"kid": key.kid, **header}
        )

    # -- the two platforms' token shapes ---------------------------------------------------

    def kubernetes_token(
        self, now: float, *, namespace: str = "agents", name: str = "claude-code", **changes: Any
    ) -> str:
        iat = int(now)
        claims: dict[str, Any] = {
            "aud": ["capbroker"],
            "exp": iat + 3600,
            "iat": iat,
            "nbf": iat,
            "iss": self.url,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "node": {"name": "node-1", "uid": str(uuid.uuid4())},
                "pod": {"name": f"{name}-7d9f8", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": name, "uid": str(uuid.uuid4())},
                "warnafter": iat + 2880,
            },
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        claims.update(changes)
        return self.sign(claims)

    def github_token(
        self,
        now: float,
        *,
        repository: str = "octo-org/deployer",
        ref: str = "refs/heads/main",
        environment: str = "staging",
        **changes: Any,
    ) -> str:
        iat = int(now)
        owner = repository.split("/")[0]
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": f"repo:{repository}:environment:{environment}",
            "aud": f"https://github.com/{owner}",
            "ref": ref,
            "sha": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4",
            "repository": repository,
            "repository_owner": owner,
            "repository_id": "74",
            "repository_owner_id": "65",
            "run_id": "5419203",
            "run_number": "12",
            "run_attempt": "1",
            "actor": "octocat",
            "actor_id": "12",
            "workflow": "deploy",
            "head_ref": "",
            "base_ref": "",
            "event_name": "push",
            "ref_type": "branch",
            "environment": environment,
            "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
            "iss": self.url,
            "nbf": iat - 5,
            "exp": iat + 300,
            "iat": iat,
        }
        claims.update(changes)
        return self.sign(claims, typ="JWT")
