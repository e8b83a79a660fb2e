"""Kill switches (pure): which tokens and which issuance requests a switch covers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

KillScope = Literal["agent", "template", "provider", "all"]
SCOPES: tuple[KillScope, ...] = ("agent", "template", "provider", "all")


@dataclass(frozen=True, slots=True)
class KillSwitch:
    id: str
    scope: KillScope
    value: str  # agent id, template name or provider name; "" for all
    label: str  # what an admin reads: the agent's name, the template's, ...

    def covers(self, *, agent_id: str, template: str, provider: str) -> bool:
        if self.scope == "all":
            return True
        if self.scope == "agent":
            return self.value == agent_id
        if self.scope == "template":
            return self.value == template
        return self.value == provider


def first_covering(
    kills: Iterable[KillSwitch], *, agent_id: str, template: str, provider: str
) -> KillSwitch | None:
    for kill in kills:
        if kill.covers(agent_id=agent_id, template=template, provider=provider):
            return kill
    return None
