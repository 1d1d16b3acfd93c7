"""The Prometheus view of :class:`~rhythm.observe.metrics.Metrics`: a registry whose one
collector turns the worker's counts, tallies and gauges into metric families when
scraped (``rhythm worker --metrics-port``). Imported only when Prometheus is on: it
needs ``prometheus_client`` (extra ``rhythm[metrics]``).

Names and samples are what prometheus_client's own instruments expose
(``rhythm_<name>_total`` for a counter; ``_bucket``, ``_count`` and ``_sum`` for a
histogram), minus the counters' ``_created`` timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from rhythm.observe.metrics import BUCKETS, SPECS, Metrics


def registry_of(metrics: Metrics) -> Any:
    """A registry of its own (never the process-wide one) that reads ``metrics``."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(Exposition(metrics))
    return registry


class Exposition:
    """A prometheus_client collector over one :class:`Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        for spec in SPECS:
            # (list(): one copy in C, so the loop thread cannot resize it mid-way)
            if spec.kind == "counter":
                counter = CounterMetricFamily(spec.prometheus, spec.help, labels=spec.labels)
                for values, count in list(metrics.counts[spec.name].items()):
                    counter.add_metric(values, count)
                yield counter
            elif spec.kind == "gauge":
                gauge = GaugeMetricFamily(spec.prometheus, spec.help, labels=spec.labels)
                for values, value in list(metrics.gauges[spec.name].items()):
                    gauge.add_metric(values, value)
                yield gauge
            else:
                les = [floatToGoString(b) for b in BUCKETS[spec.unit]] + ["+Inf"]
                histogram = HistogramMetricFamily(spec.prometheus, spec.help,
                                                  labels=spec.labels)
                for values, tally in list(metrics.histograms[spec.name].items()):
                    # (a count and the sum read a moment apart may disagree by the one
                    # observation in between: as good as a scrape during work can be)
                    cumulative = accumulate(list(tally.counts))
                    histogram.add_metric(values, list(zip(les, cumulative, strict=True)),
                                         tally.sum)
                yield histogram
