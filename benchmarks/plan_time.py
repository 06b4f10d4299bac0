"""Benchmark: `rollout plan` as a cold process, against the floor of importing what it uses.

1. The floor: a fresh `python -c "import ..."` of every pulumi, pulumi_aws and pulumi_kubernetes
   module a plan of the stack leaves loaded (found by running one plan in a child process).
2. `rollout plan --stack <stack> --week <week>` cold, alternating with the floor run by run so
   both see the same machine; prints the medians and plan / floor.
3. Scale: the same stack with its services copied to 2, 10, 25, 50 services (a generated stack
   file in a temporary project directory), one cold plan each: resources, wall time, peak RSS.

Usage: python benchmarks/plan_time.py [--stack prod] [--week 12] [--runs 5] [--services 2,10,25,50]
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from measure import measure

from rollout_cli.stackfile import REPO_ROOT, stack_file

SDKS = ("pulumi", "pulumi_aws", "pulumi_kubernetes")
NAMESPACE = "codex-rollout:"

_LOADED = """
import json, sys
from rollout_cli.offline import run_plan
run_plan({stack!r}, {week!r})
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {sdks!r})))
"""


def sdk_modules(stack: str, week: int) -> list[str]:
    script = _LOADED.format(stack=stack, week=week, sdks=SDKS)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return modules


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB of the process and its waited-for children, stdout)."""
    run = measure(command, cwd=cwd)
    if run.code != 0:
        sys.exit(f"{' '.join(command[:3])} failed: {run.stderr.strip()[-500:]}")
    return run.wall, run.peak_mib, run.stdout


def scaled_stack(stack: str, services: int, root: Path) -> None:
    """``root`` as a project whose stack ``bench`` is ``stack`` with ``services`` services: the
    stack's own services copied round-robin under new names and ports."""
    shutil.copy(REPO_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    document: dict[str, Any] = yaml.safe_load(stack_file(stack).read_text())
    config = document["config"]
    base = config[f"{NAMESPACE}services"]
    out = []
    for n in range(services):
        service = copy.deepcopy(base[n % len(base)])
        if n >= len(base):
            service["name"] = f"{service['name']}-{n}"
            service["port"] = 8100 + n
            service["metricsPort"] = 9100 + n
        out.append(service)
    config[f"{NAMESPACE}services"] = out
    (root / "Pulumi.bench.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--week", type=int, default=12)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--services", default="2,10,25,50")
    args = parser.parse_args()
    rollout = str(Path(sys.executable).with_name("rollout"))

    modules = sdk_modules(args.stack, args.week)
    floor_command = [sys.executable, "-c", "import " + ", ".join(modules)]
    plan_command = [rollout, "plan", "--stack", args.stack, "--week", str(args.week), "--json"]
    floors, plans, peak, resources = [], [], 0.0, 0
    for run in range(args.runs):
        floor, _, _ = timed(floor_command)
        plan, rss, out = timed(plan_command)
        floors.append(floor)
        plans.append(plan)
        peak = max(peak, rss)
        resources = json.loads(out)["resources"]
        print(f"run {run + 1}: import floor {floor:.3f} s, plan {plan:.3f} s")
    floor_m, plan_m = statistics.median(floors), statistics.median(plans)
    print(
        f"import floor ({len(modules)} SDK modules): median {floor_m:.3f} s; "
        f"rollout plan --stack {args.stack} --week {args.week}: median {plan_m:.3f} s "
        f"({resources} resources, peak RSS {peak:.0f} MiB); plan / floor {plan_m / floor_m:.2f}x"
    )

    print("services  resources  plan s  peak RSS MiB")
    for count in (int(x) for x in args.services.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            scaled_stack(args.stack, count, root)
            command = [rollout, "plan", "--stack", "bench", "--week", str(args.week), "--json"]
            wall, rss, out = timed(command, cwd=root)
        print(f"{count:8}  {json.loads(out)['resources']:9}  {wall:6.2f}  {rss:12.0f}")


if __name__ == "__main__":
    main()
