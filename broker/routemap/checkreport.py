"""What ``routemap check`` reports: coverage figures, gaps and errors (plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["graphql", "rest"]


@dataclass(frozen=True, slots=True)
class Coverage:
    label: str  # "query", "mutation", "state-changing", "DELETE", "all", ...
    named: int  # classified or refused by name
    total: int
    refused: int = 0  # of the named, how many the map refuses by name

    def __str__(self) -> str:
        refused = f" ({self.refused} refused by name)" if self.refused else ""
        return f"{self.label} {self.named}/{self.total}{refused}"


@dataclass(frozen=True, slots=True)
class Finding:
    group: str  # gaps: "query" / "state-changing" / "read"; errors: "field", "rule", "lookup"
    subject: str  # "mutation.volumeDelete", "DELETE /repos/{owner}/{repo}", "lookup x"
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}" if self.message else self.subject


@dataclass(frozen=True, slots=True)
class CheckReport:
    map_name: str
    kind: Kind
    description: str  # what the description says it is (title and version), if anything
    coverage: tuple[Coverage, ...]
    gaps: tuple[Finding, ...]
    errors: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.errors

    def coverage_of(self, label: str) -> Coverage:
        return next(c for c in self.coverage if c.label == label)

    def to_json(self) -> dict[str, Any]:
        def findings(items: tuple[Finding, ...]) -> list[dict[str, str]]:
            return [{"group": f.group, "subject": f.subject, "message": f.message} for f in items]

        return {
            "map": self.map_name,
            "kind": self.kind,
            "description": self.description,
            "ok": self.ok,
            "coverage": [
                {"label": c.label, "named": c.named, "total": c.total, "refused": c.refused}
                for c in self.coverage
            ],
            "gaps": findings(self.gaps),
            "errors": findings(self.errors),
            "notes": list(self.notes),
        }
