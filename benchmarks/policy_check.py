"""Benchmark: `rollout policy check --export` on a large generated state.

The state is the prod stack's offline render at a week (every kind of resource the program
declares) copied until it holds about --resources resources, each copy under its own URNs.
Runs the cold command (process start, pack start, evaluation, report) with the SDK's own analyzer
and with the pack's one-pass analyzer (policies/one_pass.py), alternating run by run, and prints
wall time, resources per second, CPU seconds and peak RSS of each, their ratio, and the
evaluation alone against a running pack (what the engine pays, the pack already started).

Beside them, the protocol's floor: a pack that answers every Analyze and AnalyzeStack with an
empty response (the SDK's own server, handshake and configuration, no decoding and no policy),
run the same two ways. It is what any Python pack pays per resource for the unary gRPC calls the
engine makes, one per resource, before any policy work.

Usage: python benchmarks/policy_check.py [--resources 5000] [--runs 3] [--stack prod] [--week 9]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from measure import measure

from rollout_cli.offline import render_state
from rollout_cli.policy.host import PACK_DIR, PolicyHost
from rollout_rules.contract import STACK_TYPE

SHARED = (STACK_TYPE, "pulumi:providers:")

FLOOR_PACK = """\
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy
from pulumi_policy import policy as sdk


class Empty(sdk._PolicyAnalyzerServicer):
    def Analyze(self, request, context):
        return proto.AnalyzeResponse()

    def AnalyzeStack(self, request, context):
        return proto.AnalyzeResponse()


sdk._PolicyAnalyzerServicer = Empty
PolicyPack(
    name="protocol-floor",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[ResourceValidationPolicy(name="noop", description="never called", validate=print)],
)
"""


def floor_pack(directory: Path) -> Path:
    """The empty pack, in this interpreter's environment."""
    directory.mkdir()
    (directory / "__main__.py").write_text(FLOOR_PACK)
    runtime = {"name": "python", "options": {"virtualenv": sys.prefix}}
    (directory / "PulumiPolicy.yaml").write_text(
        yaml.safe_dump({"description": "protocol floor", "runtime": runtime, "version": "0.0.1"})
    )
    return directory


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


ANALYZERS = {
    "sdk": "the SDK's analyzer",
    "one-pass": "policies/one_pass.py",
    "floor": "empty responses, the protocol alone",
}


def cold_run(
    rollout: str, path: Path, analyzer: str, floor: Path
) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, violations) of one cold `rollout policy check --export`.

    The CPU and peak figures are the command's and its pack's (wait4 reports the largest of the
    process and the children it waited for)."""
    env = dict(os.environ, ROLLOUT_POLICY_ANALYZER="sdk" if analyzer == "sdk" else "one-pass")
    command = [rollout, "policy", "check", "--export", str(path), "--format", "json"]
    if analyzer == "floor":
        command += ["--policy-pack", str(floor)]
    run = measure(command, env=env)
    if run.code not in (0, 1):
        sys.exit(f"policy check failed: {run.stderr.strip()}")
    summary = json.loads(run.stdout)["summary"]
    return run.wall, run.cpu, run.peak_mib, int(summary["violations"])


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
    walls: dict[str, list[float]] = {name: [] for name in ANALYZERS}
    cpus: dict[str, list[float]] = {name: [] for name in ANALYZERS}
    peaks: dict[str, float] = dict.fromkeys(ANALYZERS, 0.0)
    verdicts: dict[str, set[int]] = {name: set() for name in ANALYZERS}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(json.dumps(state))
        floor = floor_pack(Path(tmp) / "floor")
        print(f"generated {count} resources ({path.stat().st_size / 1e6:.1f} MB export)")
        # Alternate the three packs run by run, so all see the same machine.
        for run in range(args.runs):
            for name in ANALYZERS:
                wall, cpu, peak, violations = cold_run(rollout, path, name, floor)
                walls[name].append(wall)
                cpus[name].append(cpu)
                peaks[name] = max(peaks[name], peak)
                verdicts[name].add(violations)
                print(
                    f"run {run + 1} {name:8}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, "
                    f"{count / wall:6,.0f} resources/s, peak RSS {peak:.0f} MiB, "
                    f"{violations} violations"
                )

        print(f"rollout policy check --export, {count} resources, cold, median of {args.runs}:")
        for name, what in ANALYZERS.items():
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            print(
                f"  {name:8} ({what}): {wall:.2f} s wall = {count / wall:,.0f} resources/s; "
                f"{cpu:.2f} s CPU; peak RSS {peaks[name]:.0f} MiB"
            )
        sdk, ours = statistics.median(walls["sdk"]), statistics.median(walls["one-pass"])
        sdk_cpu, our_cpu = statistics.median(cpus["sdk"]), statistics.median(cpus["one-pass"])
        bottom = statistics.median(walls["floor"])
        print(f"  one-pass / sdk: wall {ours / sdk:.2f}x, CPU {our_cpu / sdk_cpu:.2f}x")
        print(f"  one-pass / floor: wall {ours / bottom:.2f}x")
        if verdicts["sdk"] != verdicts["one-pass"]:
            sys.exit(f"the analyzers disagree: {verdicts}")

        # What the engine pays: the pack's own work for one state, the process already running.
        print("evaluation against a running pack (the engine's share, pack already started):")
        warm: dict[str, list[float]] = {"one-pass": [], "floor": []}
        for _ in range(args.runs):
            for name, pack in (("one-pass", PACK_DIR), ("floor", floor)):
                with PolicyHost(pack) as host:
                    start = time.perf_counter()
                    host.evaluate(state)
                    warm[name].append(time.perf_counter() - start)
        for name, times in warm.items():
            seconds = statistics.median(times)
            print(f"  {name:8}: {seconds:.2f} s = {count / seconds:,.0f} resources/s")
        ratio = statistics.median(warm["one-pass"]) / statistics.median(warm["floor"])
        print(f"  one-pass / floor: {ratio:.2f}x")


if __name__ == "__main__":
    main()
