"""`rollout diff` as a reviewer reads it: traffic by tier first, then per resource the paths that
changed, with JSON or YAML held in strings diffed structurally; `--json` keeps the full detail."""

from __future__ import annotations

import json

from rollout_cli.render import diff
from rollout_cli.review import _Walker, review, traffic_line
from rollout_rules.plan import TIERS
from tests.conftest import DesignTable, plan_of, run_cli


def _walk(old: object, new: object, tiers: dict[str, str] | None = None) -> list[str]:
    return ["    " * line.depth + line.text for line in _Walker(tiers or {}).walk(old, new, "", 0)]


def test_traffic_line_names_every_tier() -> None:
    assert traffic_line({"sandbox": 100, "canary": 0}, {"sandbox": 50, "canary": 50}) == (
        "traffic: sandbox 100 → 50, canary 0 → 50, production none"
    )
    assert traffic_line({"sandbox": 100}, {"sandbox": 100, "canary": 0}) == (
        "traffic: sandbox 100, canary none → 0, production none"
    )


def test_a_weights_only_week_fits_on_a_screen(design_table: DesignTable) -> None:
    before, after = plan_of("prod", 4), plan_of("prod", 5)
    lines = review(before, after, diff(before, after))
    assert len(lines) <= 60, "\n".join(lines)
    assert all(len(line) <= 160 for line in lines), "\n".join(lines)
    assert lines[0].startswith("prod: week 4 → week 5")
    (_, old), (_, new) = design_table[4], design_table[5]
    # Tiers with an environment at week 4 and 5: sandbox and canary (production from week 7).
    expected = [
        f"{t} {a} → {b}" if a != b else f"{t} {a}" for t, a, b in zip(TIERS, old, new, strict=True)
    ]
    assert lines[1] == f"traffic: {expected[0]}, {expected[1]}, production none"
    text = "\n".join(lines)
    # The listener's weights by tier name.
    assert f"targetGroups[canary].weight: {old[1]} → {new[1]}" in text
    assert f"targetGroups[sandbox].weight: {old[0]} → {new[0]}" in text
    # The rollback plan and the dashboard: only what changed inside them.
    assert "ROLLOUT_ROLLBACK_PLAN (JSON):" in text and "week: 4 → 5" in text
    assert '"codex-deployment.json"] (JSON):' in text
    assert "+ ## Week 5: Code Generation (internal testing)" in text
    assert "annotations" not in text and "datasource" not in text


def test_json_keeps_the_full_detail() -> None:
    result = run_cli("diff", "--stack", "prod", "--from-week", "4", "--to-week", "5", "--json")
    assert result.returncode == 0, result.stderr
    changed = json.loads(result.stdout)["changed"]
    function = next(urn for urn in changed if urn.endswith("::rollback-function"))
    [plan] = [c for c in changed[function] if c["path"].endswith("ROLLOUT_ROLLBACK_PLAN")]
    assert (json.loads(plan["old"])["week"], json.loads(plan["new"])["week"]) == (4, 5)
    text = run_cli("diff", "--stack", "prod", "--from-week", "4", "--to-week", "5")
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.splitlines()) <= 60
    assert len(text.stdout) * 10 < len(result.stdout)
    assert " - -> -" not in text.stdout


def test_yaml_in_a_string_is_diffed_structurally() -> None:
    old = {"data": {"rules.yaml": "groups:\n- name: a\n  interval: 30s\n- name: b\n"}}
    new = {"data": {"rules.yaml": "groups:\n- name: a\n  interval: 1m\n- name: c\n"}}
    assert _walk(old, new) == [
        'data["rules.yaml"] (YAML):',
        '    groups[a].interval: "30s" → "1m"',
        '    groups[b]: - {"name": "b"}',
        '    groups[c]: + {"name": "c"}',
    ]


def test_lists_without_names_are_compared_by_index() -> None:
    assert _walk({"ports": [80, 443]}, {"ports": [8080, 443, 9090]}) == [
        "ports[0]: 80 → 8080",
        "ports[2]: + 9090",
    ]


def test_target_groups_are_named_by_tier() -> None:
    tiers = {"arn:tg/a": "sandbox", "arn:tg/b": "canary"}
    old = {"targetGroups": [{"arn": "arn:tg/a", "weight": 100}, {"arn": "arn:tg/b", "weight": 0}]}
    new = {"targetGroups": [{"arn": "arn:tg/a", "weight": 50}, {"arn": "arn:tg/b", "weight": 50}]}
    assert _walk(old, new, tiers) == [
        "targetGroups[sandbox].weight: 100 → 50",
        "targetGroups[canary].weight: 0 → 50",
    ]


def test_long_values_and_texts_are_shortened() -> None:
    lines = _walk({"a": "x" * 500}, {"a": "y" * 500})
    assert len(lines) == 1 and "… (502 characters)" in lines[0] and len(lines[0]) < 200
    old = "\n".join(f"line {i}" for i in range(40))
    new = "\n".join(f"line {i}!" for i in range(40))
    text = _walk({"t": old}, {"t": new})
    assert text[0] == "t: text changed"
    assert text[1:3] == ["    - line 0", "    + line 0!"]
    assert text[-1] == "    … 68 more changed lines (--json for all)"
    assert len(text) == 14
