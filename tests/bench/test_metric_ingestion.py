"""The metric-ingestion benchmark's measurement code works (tiny sizes, our side only: the MLflow side
needs its own virtualenv and runs with `make bench`)."""

from __future__ import annotations

from collections.abc import Callable

from bench.metric_ingestion import BATCH, PASSWORD, Sizes, best, measure_crucible
from tests.conftest import Account, LiveServer


def test_measure_crucible_counts_every_point(
    live_server: LiveServer, make_user: Callable[..., Account]
) -> None:
    make_user("bench", PASSWORD)
    rates = measure_crucible(live_server.url, Sizes(singles=5, batches=2))
    assert rates.single_per_s > 0 and rates.points_per_s > 0
    assert rates.stored == rates.expected == 20 + 5 + 2 * BATCH
    assert best([rates, rates]) == rates
