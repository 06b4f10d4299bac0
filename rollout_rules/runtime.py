"""How the project's Python processes collect garbage.

The program, the policy pack and the `rollout` command each load the Pulumi SDKs (over a thousand
modules) and then create many small objects that live until the process ends: resources,
Outputs, protobuf messages. With CPython's default thresholds (700, 10, 10) the collector keeps
running full collections, each walking every object those modules hold; a plan of 50 services
spent about a third of its time there (benchmarks/plan_time.py prints the figures).

``tune_gc`` raises the thresholds: the young generations are still collected (so cyclic garbage
is still freed and memory stays where it was), full collections all but stop.

Interpreter shutdown still runs full collections of its own while it tears the modules down:
about 1.5 s for a process that has run the program a dozen times. So ``tune_gc`` also freezes
the heap at exit (``gc.freeze`` as the last exit handler): shutdown's collections then skip what
the process built and the objects are freed by reference counting alone. Nothing in these
processes relies on a collector finalising cycles at exit (CPython never promised it).
"""

from __future__ import annotations

import atexit
import gc

GC_THRESHOLDS = (100_000, 50, 1_000)
"""Allocations before a young collection; young collections per middle one; middle per full."""


_frozen_at_exit = False


def tune_gc() -> None:
    """Set this process's collector thresholds to ``GC_THRESHOLDS`` and freeze its heap at exit.

    Called first thing, so the freeze is registered before any other exit handler and, exit
    handlers running last-registered first, runs after all of them."""
    global _frozen_at_exit
    gc.set_threshold(*GC_THRESHOLDS)
    if not _frozen_at_exit:
        atexit.register(gc.freeze)
        _frozen_at_exit = True
