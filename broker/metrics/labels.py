"""The label guard: every metric's labels, each with the closed set of values it may take.

Metrics are made only through a ``Guard``, which declares each label with its set of
values; ``labels(...)`` maps any value outside the set to ``other``. So a series can never
carry a token, a path, a credential or anything an agent chose: the sets are fixed by the
code (reason codes, effects, outcomes, status classes) or by the operator's configuration
(the providers file's names) before the first request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from broker.errors import Reason

OTHER: Final = "other"
NONE: Final = "none"

REASONS: Final = frozenset({r.value for r in Reason} | {NONE})
EFFECTS: Final = frozenset({"read", "write", "destructive", NONE})
OUTCOMES: Final = frozenset({"allowed", "denied", "held", "error", "dry_run"})
STATUS_CLASSES: Final = frozenset({"1xx", "2xx", "3xx", "4xx", "5xx"})
LOOKUP_SOURCES: Final = frozenset({"cache", "upstream"})
ISSUANCE_VIA: Final = frozenset({"tokens", "oauth", "delegation"})


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


@dataclass(frozen=True)
class LabelSet:
    """The values one label may take."""

    name: str
    values: frozenset[str]

    def __call__(self, raw: object) -> str:
        value = str(raw)
        return value if value in self.values else OTHER

    @property
    def allowed(self) -> frozenset[str]:
        return self.values | {OTHER}


M = TypeVar("M", Counter, Histogram)


class Guarded(Generic[M]):
    """A metric whose every label value passed its set."""

    def __init__(self, metric: M, sets: Sequence[LabelSet]) -> None:
        self.metric: M = metric
        self.sets = tuple(sets)

    def labels(self, *values: object) -> M:
        """The child for these label values, in the declared order, each guarded."""
        if len(values) != len(self.sets):
            raise TypeError(f"expected {len(self.sets)} label values")
        guarded = (s(v) for s, v in zip(self.sets, values, strict=True))
        return self.metric.labels(*guarded) if self.sets else self.metric


class Guard:
    """Makes every metric of one registry, and remembers which set each label draws on
    (``allowed`` is what a test holds every scraped series against)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.allowed: dict[str, dict[str, frozenset[str]]] = {}

    def _declare(self, name: str, sets: Sequence[LabelSet]) -> list[str]:
        self.allowed[name] = {s.name: s.allowed for s in sets}
        return [s.name for s in sets]

    def counter(self, name: str, doc: str, *sets: LabelSet) -> Guarded[Counter]:
        names = self._declare(name, sets)
        return Guarded(Counter(name, doc, names, registry=self.registry), sets)

    def histogram(
        self, name: str, doc: str, buckets: Iterable[float], *sets: LabelSet
    ) -> Guarded[Histogram]:
        names = self._declare(name, sets)
        metric = Histogram(name, doc, names, buckets=tuple(buckets), registry=self.registry)
        return Guarded(metric, sets)

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A label-free gauge whose value ``read()`` gives when scraped."""
        self.allowed[name] = {}
        self.registry.register(_ScrapedGauge(name, doc, read))


class _ScrapedGauge(Collector):
    def __init__(self, name: str, doc: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, doc, read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self._name, self._doc, value=self._read())


def label_sets(**sets: Iterable[str]) -> Mapping[str, LabelSet]:
    return {name: LabelSet(name, frozenset(values)) for name, values in sets.items()}


# Seconds: the gateway's own time is sub-millisecond to milliseconds, upstreams to seconds.
FAST_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SLOW_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)
