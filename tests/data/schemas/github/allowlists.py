"""Add the allowlist keys (``query``, ``body``) to a github map's REST rules that have none.

    python tests/data/schemas/github/allowlists.py broker/routemap/maps/github.yaml

For every one-line REST rule without ``query``/``body``: the query parameters and JSON
body fields that the operations it matches take in ``rest-operations.json`` (beside this
file), plus ``EXTRA`` (fields newer than the snapshot's bodies) and every ``{body.x}`` the
rule reads; ``body: any`` where the snapshot knows no body for a call other than a GET;
``STREAM``/``ANY`` by hand. Rules refused by name are left alone. Idempotent.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from broker.routemap.check_rest import matches, shape
from broker.routemap.paths import parse_path_template

PAGING = {"page", "per_page"}
EXTRA: dict[tuple[str, str], set[str]] = {  # newer than the 2023 body snapshot
    ("POST", "/orgs/{org}/repos"): {
        "custom_properties",
        "has_downloads",
        "merge_commit_message",
        "merge_commit_title",
        "squash_merge_commit_message",
        "squash_merge_commit_title",
        "use_squash_pr_title_as_default",
    },
    ("PATCH", "/repos/{owner}/{repo}"): {
        "allow_forking",
        "allow_update_branch",
        "merge_commit_message",
        "merge_commit_title",
        "squash_merge_commit_message",
        "squash_merge_commit_title",
        "use_squash_pr_title_as_default",
        "web_commit_signoff_required",
    },
    ("PUT", "/repos/{owner}/{repo}/environments/{environment_name}"): {"prevent_self_review"},
    ("POST", "/repos/{owner}/{repo}/issues"): {"type"},
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"): {"state_reason", "type"},
    ("POST", "/repos/{owner}/{repo}/pulls"): {"head_repo"},
    ("GET", "/repos/{owner}/{repo}/commits"): {"committer"},
    ("GET", "/repos/{owner}/{repo}/issues"): {"type"},
    ("GET", "/repos/{owner}/{repo}/environments"): PAGING,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"): (
        PAGING
    ),
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/secrets"): PAGING,
    ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/variables"): PAGING,
}
STREAM = {("POST", "/markdown/raw"), ("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets")}
ANY = {  # GitHub also takes a bare array of label names here
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
}
RULE = re.compile(r'^(\s*- \{method: (\w+), path: "([^"]+)")(.*)\}$')
BODY_REF = re.compile(r'\{body\.([A-Za-z_][A-Za-z0-9_]*)|"body\.([A-Za-z_][A-Za-z0-9_]*)"')


def keys(method: str, path: str, rest: str, ops: list[dict[str, object]]) -> list[str]:
    template = parse_path_template(path)
    hits = [o for o in ops if o["method"] == method and matches(template, shape(str(o["path"])))]
    extra = EXTRA.get((method, path), set())
    query = {str(q) for o in hits for q in o["query_parameters"]}  # type: ignore[attr-defined]
    if method == "GET":
        query |= extra
    out = ["query: [" + ", ".join(sorted(query)) + "]"] if query else []
    if method == "GET":
        return out
    known = [o for o in hits if "body_properties" in o]
    fields = {str(f) for o in known for f in o["body_properties"]}  # type: ignore[attr-defined]
    fields |= extra | {a or b for a, b in BODY_REF.findall(rest)}
    if (method, path) in STREAM:
        out.append("body: stream")
    elif (method, path) in ANY or (not known and (hits or method != "DELETE")):
        out.append("body: any")
    elif fields:
        out.append("body: {fields: [" + ", ".join(sorted(fields)) + "]}")
    return out


def main(map_path: str) -> None:
    ops = json.loads((Path(__file__).parent / "rest-operations.json").read_text())["operations"]
    lines = []
    for line in Path(map_path).read_text().split("\n"):
        m = RULE.match(line)
        if m and "refuse:" not in m.group(4) and not re.search(r"\b(query|body):", m.group(4)):
            added = keys(m.group(2), m.group(3), m.group(4), ops)
            line = f"{m.group(1)}{''.join(', ' + k for k in added)}{m.group(4)}}}"
        lines.append(line)
    Path(map_path).write_text("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
