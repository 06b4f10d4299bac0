"""The collector settings every project process applies first (rollout_rules.runtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rollout_rules.runtime import GC_THRESHOLDS

# An exit handler registered before tune_gc runs after it (last registered, first run): it sees
# whether the heap was frozen by then, and the thresholds in force.
PROBE = """
import atexit, gc
atexit.register(lambda: print(gc.get_freeze_count() > 0, gc.get_threshold()))
{call}
garbage = [[n] for n in range(10_000)]
"""


@pytest.mark.parametrize("times", [1, 2])
def test_tune_gc_sets_the_thresholds_and_freezes_the_heap_at_exit(times: int) -> None:
    call = "from rollout_rules.runtime import tune_gc\n" + "tune_gc()\n" * times
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(call=call)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split(maxsplit=1) == ["True", f"{GC_THRESHOLDS}\n"]


def test_without_tune_gc_nothing_is_frozen() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(call="")], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("False")


def test_tune_gc_registers_its_exit_handler_once() -> None:
    code = (
        "import atexit\nfrom rollout_rules.runtime import tune_gc\n"
        "tune_gc(); n = atexit._ncallbacks(); tune_gc(); print(atexit._ncallbacks() - n)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
