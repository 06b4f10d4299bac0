"""How the project's Python processes collect garbage.

The program, the policy pack and the `rollout` command each load the Pulumi SDKs (over a thousand
modules) and then create many small objects that live until the process ends: resources,
Outputs, protobuf messages. With CPython's default thresholds (700, 10, 10) the collector keeps
running full collections, each walking every object those modules hold; a plan of 50 services
spent about a third of its time there (benchmarks/plan_time.py prints the figures).

``tune_gc`` raises the thresholds: the young generations are still collected (so cyclic garbage
is still freed and memory stays where it was), full collections all but stop.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (100_000, 50, 1_000)
"""Allocations before a young collection; young collections per middle one; middle per full."""


def tune_gc() -> None:
    """Set this process's collector thresholds to ``GC_THRESHOLDS``."""
    gc.set_threshold(*GC_THRESHOLDS)
