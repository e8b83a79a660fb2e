"""`helm test` for capbroker: a token request as the test agent, checked against the JWKS.

1. `capbroker token request` (the real CLI) asks the broker for a token for the configured
   template and environment, with the test agent's credential from CAPBROKER_AGENT_CREDENTIAL.
2. The broker's metadata names the issuer and the JWKS; the token's `kid` must be published
   there, its EdDSA signature must verify with that key, and `iss`, `aud`, `exp` must hold.
3. The gateway must answer /readyz with 200 (it has the JWKS and current revocations).
4. The test session is ended, which revokes the token.

Prints one line per check and never the token or the credential. Exit 0 only if all held.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt

BROKER = os.environ["CAPBROKER_URL"].rstrip("/")
GATEWAY = os.environ["HELM_TEST_GATEWAY_URL"].rstrip("/")
TEMPLATE = os.environ["HELM_TEST_TEMPLATE"]
ENVIRONMENT = os.environ["HELM_TEST_ENVIRONMENT"]
AUDIENCE = os.environ.get("HELM_TEST_AUDIENCE", "")


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def get_json(url, *, expect=200):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (in-cluster URL)
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError as exc:
        fail(f"{url}: unreachable ({type(exc).__name__})")
    if status != expect:
        fail(f"{url}: answered {status}, expected {expect}")
    return json.loads(body)


requested = subprocess.run(  # noqa: S603
    ["capbroker", "token", "request", "--url", BROKER, "--template", TEMPLATE,
     "--env", ENVIRONMENT, "--json"],
    capture_output=True, text=True, timeout=60, check=False,
)
if requested.returncode != 0:
    fail(f"token request refused or failed: {requested.stderr.strip()}")
grant = json.loads(requested.stdout)
token = grant["access_token"]
print(f"ok: token issued for {TEMPLATE}/{ENVIRONMENT} (jti {grant['jti']})", flush=True)

try:
    metadata = get_json(f"{BROKER}/.well-known/oauth-authorization-server")
    keys = get_json(f"{BROKER}/.well-known/jwks.json")["keys"]
    kid = jwt.get_unverified_header(token).get("kid")
    published = [k for k in keys if k.get("kid") == kid]
    if not published:
        fail(f"the token's kid {kid!r} is not in the JWKS ({len(keys)} keys)")
    key = jwt.PyJWK(published[0]).key
    claims = jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        issuer=metadata["issuer"],
        audience=AUDIENCE or None,
        options={"verify_aud": bool(AUDIENCE), "require": ["exp", "iat", "iss", "jti"]},
        leeway=30,
    )
    if claims["jti"] != grant["jti"] or claims["exp"] <= time.time():
        fail("the verified claims do not match the grant")
    print(f"ok: signature verified with published key {kid} (issuer {claims['iss']})", flush=True)

    ready = get_json(f"{GATEWAY}/readyz")
    print(f"ok: gateway ready ({ready.get('checks')})", flush=True)
except jwt.PyJWTError as exc:
    fail(f"the token does not verify against the JWKS ({type(exc).__name__})")
finally:
    request = urllib.request.Request(  # noqa: S310
        f"{BROKER}/v1/sessions/{grant['session_id']}/end",
        method="POST",
        headers={"Authorization": f"Bearer {os.environ['CAPBROKER_AGENT_CREDENTIAL']}"},
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
        print("ok: test session ended (its token is revoked)", flush=True)
    except OSError as exc:
        print(f"warning: could not end the test session ({type(exc).__name__})", flush=True)
print("capbroker helm test passed", flush=True)
