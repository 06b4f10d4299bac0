"""Print, per week transition of every stack, how many resources the change creates and which
policies reported "cannot be verified at preview" (the previews `rollout plan --from-week` makes,
checked by the real pack).

    .venv/bin/python tools/preview_transitions.py [--weeks 12] [--stack prod ...]
"""

from __future__ import annotations

import argparse

from rollout_cli.offline import PlanResult, run_plan
from rollout_cli.policy.host import PolicyHost
from rollout_cli.policy.state import plan_state
from rollout_cli.stackfile import REPO_ROOT, stacks
from rollout_rules.contract import PREVIEW_BLIND


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--stack", action="append", help="default: every Pulumi.<stack>.yaml")
    args = parser.parse_args()
    print("| stack | transition | new resources | cannot be verified at preview |")
    print("|---|---|---|---|")
    with PolicyHost() as pack:
        for stack in args.stack or stacks(REPO_ROOT):
            before: PlanResult | None = None
            for week in range(1, args.weeks + 1):
                preview = run_plan(stack, week, from_week=week - 1, before=before)
                report = pack.evaluate(plan_state(preview))
                blind = sorted(
                    {v.policy for v in report.violations if v.message.startswith(PREVIEW_BLIND)}
                )
                mandatory = f" (MANDATORY: {len(report.mandatory)})" if report.mandatory else ""
                print(
                    f"| {stack} | {week - 1}→{week} | {len(preview.new)} | "
                    f"{', '.join(blind) or '-'}{mandatory} |"
                )
                before = run_plan(stack, week)


if __name__ == "__main__":
    main()
