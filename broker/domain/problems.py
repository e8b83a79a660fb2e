"""Cross-field problems found in a spec, each tied to the field it concerns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.errors import InvalidRequest, Reason


@dataclass(frozen=True, slots=True)
class SpecProblem:
    path: str  # field path inside the spec, e.g. ``approval.actions[0]``
    message: str


class SpecError(InvalidRequest):
    """A spec that passed its JSON Schema but breaks a rule between fields."""

    default_reason = Reason.INVALID_MANIFEST

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "; ".join(f"{p.path}: {p.message}" for p in self.problems),
            extra={"problems": [{"path": p.path, "message": p.message} for p in self.problems]},
        )
