"""Benchmark: `rollout policy check --export` on a large generated state.

The state is the prod stack's offline render at a week (every kind of resource the program
declares) copied until it holds about --resources resources, each copy under its own URNs.
Prints resources per second for the cold command (process start, pack start, evaluation,
report) and for the evaluation alone against a running pack.

Usage: python benchmarks/policy_check.py [--resources 5000] [--runs 3] [--stack prod] [--week 9]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rollout_cli.offline import render_state
from rollout_cli.policy.host import PolicyHost
from rollout_rules.contract import STACK_TYPE

SHARED = (STACK_TYPE, "pulumi:providers:")


def generate(stack: str, week: int, target: int) -> dict[str, Any]:
    """``target`` resources: the stack's root and providers once, the rest copied."""
    state = render_state(stack, week)
    resources = state["deployment"]["resources"]
    shared = [r for r in resources if r["type"].startswith(SHARED)]
    body = [r for r in resources if not r["type"].startswith(SHARED)]
    own = {r["urn"] for r in body}
    copies = max(1, (target - len(shared)) // len(body))

    def rename(urn: str, n: int) -> str:
        return f"{urn}-c{n}" if urn in own else urn

    out = list(shared)
    for n in range(copies):
        for resource in body:
            clone = copy.deepcopy(resource)
            clone["urn"] = rename(clone["urn"], n)
            if "parent" in clone:
                clone["parent"] = rename(clone["parent"], n)
            clone["dependencies"] = [rename(u, n) for u in clone.get("dependencies", [])]
            clone["propertyDependencies"] = {
                k: [rename(u, n) for u in v]
                for k, v in clone.get("propertyDependencies", {}).items()
            }
            out.append(clone)
    state["deployment"]["resources"] = out
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--week", type=int, default=9)
    args = parser.parse_args()

    state = generate(args.stack, args.week, args.resources)
    count = len(state["deployment"]["resources"])
    rollout = str(Path(sys.executable).with_name("rollout"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(json.dumps(state))
        print(f"generated {count} resources ({path.stat().st_size / 1e6:.1f} MB export)")

        cold = []
        for run in range(args.runs):
            start = time.perf_counter()
            result = subprocess.run(
                [rollout, "policy", "check", "--export", str(path), "--format", "json"],
                capture_output=True,
                text=True,
            )
            elapsed = time.perf_counter() - start
            if result.returncode not in (0, 1):
                sys.exit(f"policy check failed: {result.stderr.strip()}")
            summary = json.loads(result.stdout)["summary"]
            cold.append(elapsed)
            print(
                f"cold run {run + 1}: {elapsed:.2f} s, {count / elapsed:,.0f} resources/s "
                f"({summary['violations']} violations)"
            )

    warm = []
    with PolicyHost() as host:
        for run in range(args.runs):
            start = time.perf_counter()
            host.evaluate(state)
            elapsed = time.perf_counter() - start
            warm.append(elapsed)
            print(f"evaluation run {run + 1}: {elapsed:.2f} s, {count / elapsed:,.0f} resources/s")

    cold_median, warm_median = statistics.median(cold), statistics.median(warm)
    print(
        f"rollout policy check --export ({count} resources): median {cold_median:.2f} s cold = "
        f"{count / cold_median:,.0f} resources/s; evaluation alone median {warm_median:.2f} s = "
        f"{count / warm_median:,.0f} resources/s"
    )


if __name__ == "__main__":
    main()
