"""Manifest problems, collected across every file before anything is refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.errors import InvalidRequest, Reason


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    source: str  # file and 1-based document index, e.g. ``templates/staging.yaml#2``
    path: str  # field path, e.g. ``spec.actions[2]``; empty for the whole document
    message: str  # plain words, safe to show

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.path}: {self.message}"
            if self.path
            else (f"{self.source}: {self.message}")
        )


class ManifestError(InvalidRequest):
    default_reason = Reason.INVALID_MANIFEST

    def __init__(self, problems: Sequence[ManifestProblem]) -> None:
        self.problems = list(problems)
        super().__init__(
            "\n".join(str(p) for p in self.problems),
            extra={
                "problems": [
                    {"source": p.source, "path": p.path, "message": p.message}
                    for p in self.problems
                ]
            },
        )
