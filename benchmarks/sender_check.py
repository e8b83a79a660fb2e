"""What the gateway's DPoP sender check costs (RFC 9449): a bound token's verification and
its proof's (``broker/gateway/sender.py``), next to a bearer token's verification and the
same check, which for a bearer token only reads the scheme. Both tokens come from a real
broker (``POST /v1/tokens``, the bound one with a proof); every proof is new (its ``jti``
is spent in the verifier's replay cache, as at the gateway), signed before timing starts.

    python -m benchmarks.sender_check --duration 5
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from benchmarks.broker_tokens import AUDIENCE, Broker
from benchmarks.harness import TimingResult, time_alternating
from tests.support.dpop_client import ProofKey

CALL_URL = "https://gateway.example.com/railway/graphql/v2"
REPEAT = 5
RATIO_TARGET = 3.0  # a proof is one more signature check and a thumbprint: ~2 verifications
BEARER = "bearer: verify + sender check"
BOUND = "DPoP: verify + sender check"


def sender_check(duration_s: float) -> TimingResult:
    from broker.gateway.sender import CallTarget, Presented, check_sender
    from broker.tokens import TokenVerifier, public_key_from_jwk
    from broker.tokens.dpop import DPoPVerifier, sign_proof

    jwk = ProofKey("Ed25519").private_jwk()
    with Broker.start() as broker:
        issuer = broker.get_json("/.well-known/oauth-authorization-server")["issuer"]
        binding = sign_proof(
            jwk, method="POST", url=f"{issuer}/v1/tokens", now=time.time(), jti=uuid.uuid4().hex
        )
        bound = broker.request_token({"DPoP": binding})
        bearer = broker.request_token()
        jwks = broker.get_json("/.well-known/jwks.json")
    keys = {k["kid"]: public_key_from_jwk(k) for k in jwks["keys"]}
    verifier = TokenVerifier(keys.get, issuer=issuer, audience=AUDIENCE)
    now = time.time()
    if verifier.verify(bound, now=now).cnf_jkt is None:
        raise RuntimeError("the broker did not bind the token to the proof's key")
    n = max(500, min(4000, int(duration_s * 400)))
    proofs: Iterator[str] = iter(
        [
            sign_proof(jwk, method="POST", url=CALL_URL, now=now, jti=f"p{i}", access_token=bound)
            for i in range(REPEAT * n + min(n, 100))
        ]
    )
    dpop = DPoPVerifier(max_age=60)
    call = CallTarget("POST", CALL_URL)

    def bound_call() -> None:
        token = verifier.verify(bound, now=now)
        shown = Presented("DPoP", bound, (next(proofs),))
        check_sender(shown, token, call, verifier=dpop, now=now)

    def bearer_call() -> None:
        token = verifier.verify(bearer, now=now)
        check_sender(Presented("Bearer", bearer, ()), token, call, verifier=dpop, now=now)

    timings = time_alternating({BEARER: bearer_call, BOUND: bound_call}, n=n, repeat=REPEAT)
    ratio = timings[BOUND].median_us / timings[BEARER].median_us
    return TimingResult(
        timings=timings,
        notes={"calls_each": REPEAT * n, "median_ratio": round(ratio, 2), "alg": "Ed25519"},
    )


def meets_ratio(result: TimingResult) -> bool:
    """The bound call's median within ``RATIO_TARGET`` times the bearer call's."""
    return bool(result.timings[BOUND].median_us < RATIO_TARGET * result.timings[BEARER].median_us)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    result = sender_check(args.duration)
    out: dict[str, Any] = result.as_dict()
    out["target"] = f"DPoP median < {RATIO_TARGET} x bearer median"
    out["met"] = meets_ratio(result)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
