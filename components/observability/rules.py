"""Prometheus rules for the coding system, built from the stack config (pure, no Pulumi).

Four rule groups, each becomes one PrometheusRule in the cluster and one group of the plain rule
file that `rollout render` writes (prometheus/rules.yaml):

- codex-objectives: each service's availability SLO as data (its error budget), so one burn-rate
  alert rule serves every service;
- codex-tier: 5-minute recording rules per (service, tier) and the tier alerts, three of which
  are rollback triggers (`action: rollback`);
- codex-slo: the longer burn-rate windows and the multi-window multi-burn-rate alerts;
- codex-ci: the alerts on what CI pushes to the Pushgateway.

No tier-scoped alert fires for a tier without traffic: every one is joined (`and on (service,
tier)`) with the tier's request rate being at least `thresholds.min_request_rate`, and with no data
the rates, ratios and quantiles are absent or NaN, which compares false.

Burn-rate alerts follow the SRE workbook (chapter 5, "Alerting on SLOs", table 5-8):
- CodexErrorBudgetBurnFast (critical, pages): 14.4x the budget over 1h AND over 5m (2 % of a
  30-day budget spent in an hour), OR 6x over 6h AND over 30m (5 % in six hours);
- CodexErrorBudgetBurnSlow (medium, Slack): 1x over 3d AND over 6h (10 % in three days).
The short window makes an alert stop soon after the burn stops.

`CodexLatencyP95High` compares every service's p95 with the one configured threshold
(`thresholds.latency_p95_seconds`, the plan's 0.5 s). A service's own `slo.latencyP95Ms` is its
target, not an alert threshold: it belongs under the alert threshold (the config tests check it).

Alerts read recording rules of other groups, so the evaluation interval must stay well under
Prometheus's 5-minute lookback (the config's default is 10 s).

Dashboards name no recording rule: `expand` turns an expression over recording rules into one over
the contract metrics, from the rules' own `expr`, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.environment.config import ServiceConfig
from components.observability.config import ThresholdsConfig
from components.observability.contract import METRIC_NAMES
from components.rollback.alertmanager import RULE_FOR_SECONDS
from rollout_rules.contract import namespace_for
from rollout_rules.plan import TIERS

# -- recording rule names (`level:metric:operations`) -----------------------------------------

BY = "service, tier"
GUARD_WINDOW = "5m"
# CodexTierDown: a tier has an environment if it served traffic in this window (once its targets
# are down it exports nothing, so its current request rate cannot tell), if it has scrape targets,
# or if kube-state-metrics shows its Deployment wanting replicas (a tier whose pods never came up
# may have no `up` series at all).
TIER_DOWN_LOOKBACK = "1h"
# A Deployment younger than this is still pulling images and starting: not yet "down".
TIER_DOWN_GRACE_SECONDS = 600
CODEGEN_WINDOW = "10m"
DEPLOYMENT_WINDOW = "1d"
SLO_WINDOWS = ("30m", "1h", "6h", "3d")
QUANTILES = (0.5, 0.95, 0.99)

ERROR_BUDGET = "service:slo_error_budget:ratio"
CODEGEN_RATE = f"service_tier:codegen_requests:rate{CODEGEN_WINDOW}"
CODEGEN_SUCCESS = f"service_tier:codegen_success_ratio:rate{CODEGEN_WINDOW}"
DEPLOYMENT_SUCCESS = f"stack:deployment_success_ratio:increase{DEPLOYMENT_WINDOW}"


def request_rate(window: str) -> str:
    """Recording rule: requests per second of a (service, tier) over `window`."""
    return f"service_tier:http_requests:rate{window}"


def error_ratio(window: str) -> str:
    """Recording rule: share of a (service, tier)'s requests answered 5xx over `window`."""
    return f"service_tier:http_request_error_ratio:rate{window}"


def latency_quantile(q: float) -> str:
    """Recording rule: the q-quantile of request duration (seconds) over 5m."""
    return f"service_tier:http_request_duration_seconds:p{round(q * 100)}_rate5m"


# -- alert names and labels --------------------------------------------------------------------

ERROR_RATE_HIGH = "CodexErrorRateHigh"
LATENCY_P95_HIGH = "CodexLatencyP95High"
TIER_DOWN = "CodexTierDown"
BURN_FAST = "CodexErrorBudgetBurnFast"
BURN_SLOW = "CodexErrorBudgetBurnSlow"
CODEGEN_SUCCESS_LOW = "CodexCodegenSuccessLow"
VALIDATION_PIPELINE_SLOW = "CodexValidationPipelineSlow"
DEPLOYMENT_SUCCESS_LOW = "CodexDeploymentSuccessLow"
TEST_COVERAGE_LOW = "CodexTestCoverageLow"
POLICY_VIOLATION = "CodexPolicyViolation"

ROLLBACK = {"action": "rollback"}
# `for` of the rollback triggers: short enough that fault -> traffic moved stays within a minute
# (measured by `rollout drill`), long enough that one odd evaluation does not move traffic (the
# condition must hold on four evaluations in a row at the 10 s interval).
ROLLBACK_FOR = f"{RULE_FOR_SECONDS}s"


@dataclass(frozen=True)
class BurnWindow:
    """One condition of a multi-window burn-rate alert: `factor` x budget over both windows."""

    factor: float
    long: str
    short: str


FAST_BURN = (BurnWindow(14.4, "1h", "5m"), BurnWindow(6, "6h", "30m"))
SLOW_BURN = (BurnWindow(1, "3d", "6h"),)


@dataclass(frozen=True)
class Objective:
    """A service's SLO as the rules use it."""

    service: str
    error_budget: float


def objectives(services: Sequence[ServiceConfig]) -> list[Objective]:
    """Per-service error budget (1 - availability target).

    Latency has no per-service objective here: `CodexLatencyP95High` uses the configured
    threshold for every service.
    """
    return [
        Objective(service=s.name, error_budget=round(1 - s.slo.availability / 100, 10))
        for s in services
    ]


@dataclass(frozen=True)
class Alert:
    """An alerting rule."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0s":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


def num(value: float) -> str:
    """A threshold as PromQL writes it (no float noise: 0.001, not 0.0010000000000000009)."""
    return format(value, ".10g")


def _record(name: str, expr: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def _rate_rules(window: str) -> list[dict[str, Any]]:
    total = request_rate(window)
    errors = f'sum by ({BY}) (rate(http_requests_total{{code=~"5.."}}[{window}]))'
    return [
        _record(total, f"sum by ({BY}) (rate(http_requests_total[{window}]))"),
        # `or ... 0 *` keeps the ratio at 0 (not absent) while a tier has had no 5xx at all.
        _record(error_ratio(window), f"({errors} or on ({BY}) 0 * {total}) / {total}"),
    ]


def _success_ratio(metric: str, by: str, fn: str, window: str) -> str:
    total = f"sum by ({by}) ({fn}({metric}[{window}]))"
    success = f'sum by ({by}) ({fn}({metric}{{outcome="success"}}[{window}]))'
    # Without the `or`, a window holding only failures would have no success series, hence no
    # ratio and no alert: exactly the case that must alert.
    return f"({success} or on ({by}) 0 * {total}) / {total}"


def _guard(thresholds: ThresholdsConfig, rate: str | None = None) -> str:
    return f"{rate or request_rate(GUARD_WINDOW)} >= {num(thresholds.min_request_rate)}"


def _burn(window: BurnWindow, length: str) -> str:
    return (
        f"{error_ratio(length)} > on (service) group_left () "
        f"({num(window.factor)} * {ERROR_BUDGET})"
    )


def _burn_condition(windows: Sequence[BurnWindow]) -> str:
    conditions = [f"({_burn(w, w.long)} and on ({BY}) {_burn(w, w.short)})" for w in windows]
    return conditions[0] if len(conditions) == 1 else "(" + " or ".join(conditions) + ")"


def _wanted_deployments(services: Sequence[ServiceConfig]) -> str:
    """(service, tier) of every Deployment of ours that wants replicas and is past its grace.

    kube-state-metrics (kube-prometheus-stack) labels its series with `namespace` and
    `deployment`; the tier comes from the namespace (`codex-<tier>`), the service from the
    Deployment's name, which is the service's.
    """
    # Kubernetes names need no regex escaping: [a-z0-9-] only.
    namespaces = "|".join(namespace_for(tier) for tier in TIERS)
    names = "|".join(s.name for s in services)
    selector = f'{{namespace=~"{namespaces}", deployment=~"{names}"}}'
    wanted = (
        f"kube_deployment_spec_replicas{selector} > 0 and on (namespace, deployment) "
        f"(time() - kube_deployment_created{selector} > {TIER_DOWN_GRACE_SECONDS})"
    )
    prefix = namespace_for("")
    by_tier = f'label_replace({wanted}, "tier", "$1", "namespace", "{prefix}(.+)")'
    return f'max by ({BY}) (label_replace({by_tier}, "service", "$1", "deployment", "(.+)"))'


def _tier_down_expr(t: ThresholdsConfig, services: Sequence[ServiceConfig]) -> str:
    """Every tier with an environment and no target up, whether or not it ever took traffic."""
    served = (
        f"max_over_time({request_rate(GUARD_WINDOW)}[{TIER_DOWN_LOOKBACK}]) >= "
        f"{num(t.min_request_rate)}"
    )
    scraped = f"max by ({BY}) (up)"
    return (
        f"(\n  {served}\n  or on ({BY}) {scraped}\n"
        f"  or on ({BY}) {_wanted_deployments(services)}\n)\nunless on ({BY}) up == 1"
    )


def _tier_alerts(t: ThresholdsConfig, services: Sequence[ServiceConfig]) -> list[Alert]:
    where = "{{ $labels.service }} in {{ $labels.tier }}"
    return [
        Alert(
            ERROR_RATE_HIGH,
            f"{error_ratio('5m')} > {num(t.error_rate)}\nand on ({BY}) {_guard(t)}",
            ROLLBACK_FOR,
            "high",
            f"5xx rate of {where} above {num(t.error_rate * 100)} %",
            f"{{{{ $value | humanizePercentage }}}} of the requests to {where} failed with 5xx "
            "over the last 5 minutes; traffic is being moved off the tier.",
            ROLLBACK,
        ),
        Alert(
            LATENCY_P95_HIGH,
            f"{latency_quantile(0.95)} > {num(t.latency_p95_seconds)}\nand on ({BY}) {_guard(t)}",
            ROLLBACK_FOR,
            "medium",
            f"p95 latency of {where} above {num(t.latency_p95_seconds)} s",
            f"p95 request duration of {where} is {{{{ $value | humanizeDuration }}}} over the "
            "last 5 minutes; traffic is being moved off the tier.",
            ROLLBACK,
        ),
        Alert(
            TIER_DOWN,
            _tier_down_expr(t, services),
            ROLLBACK_FOR,
            "critical",
            f"No target of {where} is up",
            f"{where} has an environment (it served traffic in the last {TIER_DOWN_LOOKBACK}, "
            "has scrape targets, or its Deployment wants replicas) and no target is up; traffic "
            "is being moved off the tier.",
            ROLLBACK,
        ),
        Alert(
            CODEGEN_SUCCESS_LOW,
            f"{CODEGEN_SUCCESS} < {num(t.codegen_success_rate)}\n"
            f"and on ({BY}) {_guard(t, CODEGEN_RATE)}",
            "5m",
            "high",
            f"Code generation success of {where} below {num(t.codegen_success_rate * 100)} %",
            f"{{{{ $value | humanizePercentage }}}} of code generation requests to {where} "
            f"succeeded over the last {CODEGEN_WINDOW}.",
        ),
    ]


def _slo_alerts(t: ThresholdsConfig) -> list[Alert]:
    where = "{{ $labels.service }} in {{ $labels.tier }}"
    return [
        Alert(
            BURN_FAST,
            f"{_burn_condition(FAST_BURN)}\nand on ({BY}) {_guard(t)}",
            "2m",
            "critical",
            f"{where} is burning its error budget fast",
            "Error ratio {{ $value | humanizePercentage }}: at least 14.4x the budget over "
            "1h and 5m, or 6x over 6h and 30m; 2-5 % of the 30-day budget is already spent.",
        ),
        Alert(
            BURN_SLOW,
            f"{_burn_condition(SLOW_BURN)}\nand on ({BY}) {_guard(t)}",
            "15m",
            "medium",
            f"{where} is spending its error budget faster than it accrues",
            "Error ratio {{ $value | humanizePercentage }} over 3d and 6h exceeds the "
            "budget; at this pace the SLO is missed within the 30-day window.",
        ),
    ]


def _ci_alerts(t: ThresholdsConfig) -> list[Alert]:
    return [
        Alert(
            VALIDATION_PIPELINE_SLOW,
            "max by (pipeline) (validation_pipeline_duration_seconds) > "
            f"{num(t.validation_pipeline_seconds)}",
            "0s",
            "medium",
            "Validation pipeline {{ $labels.pipeline }} is slow",
            "The last run of {{ $labels.pipeline }} took {{ $value | humanizeDuration }} "
            f"(threshold {num(t.validation_pipeline_seconds)} s).",
        ),
        Alert(
            DEPLOYMENT_SUCCESS_LOW,
            f"{DEPLOYMENT_SUCCESS} < {num(t.deployment_success_rate)}",
            "0s",
            "high",
            f"Deployment success of {{{{ $labels.stack }}}} below "
            f"{num(t.deployment_success_rate * 100)} %",
            "{{ $value | humanizePercentage }} of the deployments of {{ $labels.stack }} "
            f"succeeded over the last {DEPLOYMENT_WINDOW}.",
        ),
        Alert(
            TEST_COVERAGE_LOW,
            f"min by (pipeline) (test_coverage_ratio) < {num(t.test_coverage_ratio)}",
            "0s",
            "low",
            "Test coverage of {{ $labels.pipeline }} below "
            f"{num(t.test_coverage_ratio * 100)} %",
            "The last run of {{ $labels.pipeline }} covered {{ $value | humanizePercentage }}.",
        ),
        Alert(
            POLICY_VIOLATION,
            'sum by (stack, pack) (policy_violations{enforcement="mandatory"}) > 0',
            "0s",
            "high",
            "Mandatory policy violated in {{ $labels.stack }}",
            "The last policy check of {{ $labels.stack }} found {{ $value }} mandatory "
            "violation(s) of pack {{ $labels.pack }}.",
            {"category": "policy"},
        ),
    ]


def runbook_name(alert: str) -> str:
    """The runbook's file name (no .md): CodexErrorRateHigh -> codex-error-rate-high."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alert).lower()


def _with_runbooks(groups: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    """Every alert of `groups` with a `runbook_url` annotation (as kube-prometheus-stack's own
    rules carry), pointing at its runbook under `base_url` (docs/runbooks/ of this repository)."""
    for rule in alerts(groups):
        rule["annotations"]["runbook_url"] = f"{base_url}/{runbook_name(rule['alert'])}.md"
    return groups


def rule_groups(
    services: Sequence[ServiceConfig],
    thresholds: ThresholdsConfig,
    runbook_base_url: str | None = None,
) -> list[dict[str, Any]]:
    """The rule groups, as Prometheus rule files (and PrometheusRule specs) hold them; with
    `runbook_base_url`, every alert carries its runbook_url."""
    t = thresholds
    objective_rules = []
    for o in objectives(services):
        labels = {"service": o.service}
        objective_rules.append(_record(ERROR_BUDGET, f"vector({num(o.error_budget)})", labels))
    tier_records = [
        *_rate_rules("5m"),
        *(
            _record(
                latency_quantile(q),
                f"histogram_quantile({num(q)}, sum by ({BY}, le) "
                "(rate(http_request_duration_seconds_bucket[5m])))",
            )
            for q in QUANTILES
        ),
        _record(CODEGEN_RATE, f"sum by ({BY}) (rate(codegen_requests_total[{CODEGEN_WINDOW}]))"),
        _record(
            CODEGEN_SUCCESS, _success_ratio("codegen_requests_total", BY, "rate", CODEGEN_WINDOW)
        ),
    ]
    slo_records = [rule for window in SLO_WINDOWS for rule in _rate_rules(window)]
    ci_records = [
        _record(
            DEPLOYMENT_SUCCESS,
            _success_ratio("deployments_total", "stack", "increase", DEPLOYMENT_WINDOW),
        )
    ]
    groups = [
        {"name": "codex-objectives", "rules": objective_rules},
        {
            "name": "codex-tier",
            "rules": tier_records + [a.rule() for a in _tier_alerts(t, services)],
        },
        {"name": "codex-slo", "rules": slo_records + [a.rule() for a in _slo_alerts(t)]},
        {"name": "codex-ci", "rules": ci_records + [a.rule() for a in _ci_alerts(t)]},
    ]
    return groups if runbook_base_url is None else _with_runbooks(groups, runbook_base_url)


def rule_file(
    services: Sequence[ServiceConfig],
    thresholds: ThresholdsConfig,
    runbook_base_url: str | None = None,
) -> dict[str, Any]:
    """A plain Prometheus rule file (what `promtool check rules` reads)."""
    return {"groups": rule_groups(services, thresholds, runbook_base_url)}


def alerts(groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerting rules of `groups`."""
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def recorded_names(groups: Sequence[dict[str, Any]]) -> set[str]:
    """Names of the recording rules of `groups`."""
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def rollback_triggers(groups: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Alert name -> its `for` duration, for the alerts that trigger a rollback.

    For the rollback budget: evaluation interval + `for` + Alertmanager's group_wait.
    """
    return {
        rule["alert"]: rule.get("for", "0s")
        for rule in alerts(groups)
        if rule["labels"].get("action") == "rollback"
    }


# -- expanding recording rules into contract expressions ----------------------------------------


def definitions(groups: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Recording rule name -> an expression that yields the same series as the rule.

    The rule's `expr`, with its `labels` set by `label_replace`; the rules that record one name
    for several label sets (the objectives, one per service) are joined with `or`.
    """
    found: dict[str, list[str]] = {}
    for group in groups:
        for rule in group["rules"]:
            if "record" not in rule:
                continue
            expr = rule["expr"]
            for label, value in rule.get("labels", {}).items():
                expr = f'label_replace({expr}, "{label}", "{value}", "", "")'
            found.setdefault(rule["record"], []).append(expr)
    return {name: " or ".join(exprs) for name, exprs in found.items()}


def _selector_pattern(names: set[str]) -> re.Pattern[str]:
    """A vector selector of one of `names`: group 1 the name, group 2 its matchers (if any)."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf'(?<![\w:"])({alternatives})(?![\w:"])(?:\{{([^{{}}]*)\}})?')


def _with_matchers(expr: str, matchers: str, pattern: re.Pattern[str]) -> str:
    """`expr` with `matchers` added to each of its vector selectors.

    Only sound when every aggregation of `expr` keeps the matched labels (filtering before
    `sum by (service, tier)` on `tier` is filtering after it); anything else is refused.
    """
    labels = set(re.findall(r'([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"', matchers))
    groupings = [
        {label.strip() for label in by.split(",")} for by in re.findall(r"\bby \(([^)]*)\)", expr)
    ]
    if not labels or not groupings or any(not labels <= grouping for grouping in groupings):
        raise ValueError(f"cannot push {{{matchers}}} into {expr!r}")

    def add(match: re.Match[str]) -> str:
        inner = match.group(2)
        return f"{match.group(1)}{{{inner + ', ' if inner else ''}{matchers}}}"

    return pattern.sub(add, expr)


def expand(expr: str, groups: Sequence[dict[str, Any]]) -> str:
    """`expr` with every recording rule of `groups` it names replaced by the rule's expression,
    recursively: the result names only what the recording rules read (the contract metrics).

    Matchers on a recorded series (`service_tier:http_requests:rate5m{tier="canary"}`) move onto
    every selector of the rule's expression; they may only match labels the rule aggregates by.
    """
    defined: Mapping[str, str] = definitions(groups)
    recorded = _selector_pattern(set(defined))
    selectors = _selector_pattern(set(defined) | METRIC_NAMES)

    def substitute(match: re.Match[str]) -> str:
        definition = defined[match.group(1)]
        if match.group(2):
            definition = _with_matchers(definition, match.group(2), selectors)
        whole = match.start() == 0 and match.end() == len(match.string)
        return definition if whole else f"({definition})"

    for _ in range(len(defined) + 1):  # each round removes one level of rules reading rules
        expanded = recorded.sub(substitute, expr)
        if expanded == expr:
            return expr
        expr = expanded
    raise ValueError(f"recording rules refer to each other in a cycle: {expr!r}")
