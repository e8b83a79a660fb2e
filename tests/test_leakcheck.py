from broker.auth.credentials import new_credential
from tests.support.leakcheck import find_secrets


def test_credentials_and_tokens_are_recognised() -> None:
    cred = new_credential("agent").value
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9." + "s" * 86
    hits = find_secrets(f"log line {cred} and {jwt} and -----BEGIN PRIVATE KEY-----")
    assert len(hits) == 3
    assert all(cred not in h and jwt not in h for h in hits)


def test_ordinary_text_is_not_flagged() -> None:
    assert find_secrets("token issued jti=0123abcd for agent:claude-code [verb_not_granted]") == []
