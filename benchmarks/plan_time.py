"""Benchmark: wall time of `rollout plan --stack <stack>` as a cold process (median of N runs).

Usage: python benchmarks/plan_time.py [--stack prod] [--runs 7]
Prints each run, then the median, min and max, the resource count and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--week", type=int, default=None)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rollout = str(Path(sys.executable).with_name("rollout"))
    command = [rollout, "plan", "--stack", args.stack, "--json"]
    if args.week is not None:
        command += ["--week", str(args.week)]
    times = []
    resources = 0
    for run in range(args.runs):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        resources = json.loads(result.stdout)["resources"]
        print(f"run {run + 1}: {elapsed:.3f} s")
    # ru_maxrss of waited-for children is the largest single child, in KiB on Linux.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"rollout plan --stack {args.stack}: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s over {args.runs} cold runs; "
        f"{resources} resources; peak RSS of a run {peak_mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
