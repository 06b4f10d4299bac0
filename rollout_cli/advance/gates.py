"""The promotion gates: each one PromQL query over the judged window, its threshold and verdict.

Every gate is `pass`, `fail` or `inconclusive`; inconclusive never passes. A gate is
inconclusive when its query returns nothing (no data), when the tier served fewer than
`promotion.minRequests` requests in the window (a ratio over a handful of requests says
nothing), or when Prometheus cannot be reached (after the first failure to connect, the rest
are not even tried). Every query reads the contract's raw series (README, "Metric contract")
and `ALERTS`, not the recording rules, so the verdict does not depend on which rules were
loaded when.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from components.promotion.config import PromotionConfig
from infra.config import StackConfig
from rollout_cli.advance.prometheus import Prometheus, PrometheusError, Sample
from rollout_cli.advance.window import Window
from rollout_rules.ledger import Ledger
from rollout_rules.plan import TIERS, week_plan

Status = Literal["pass", "fail", "inconclusive"]
PASS: Status = "pass"
FAIL: Status = "fail"
INCONCLUSIVE: Status = "inconclusive"


@dataclass
class Gate:
    """The verdict of one gate."""

    name: str
    status: Status
    value: float | None
    threshold: float | None
    query: str | None
    tier: str | None = None
    service: str | None = None
    unit: str = ""
    rule: str = ""
    """How value and threshold compare to pass, e.g. `<`, `>=`, `==`."""
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """`name` with the tier and service it is about."""
        where = "/".join(p for p in (self.tier, self.service) if p)
        return f"{self.name} [{where}]" if where else self.name

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": self.name,
            "tier": self.tier,
            "service": self.service,
            "status": self.status,
            "value": self.value,
            "threshold": self.threshold,
            "rule": self.rule,
            "unit": self.unit,
            "query": self.query,
            "detail": self.detail,
        }
        result.update(self.extra)
        return result


def _label(value: str) -> str:
    """A label value as a PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(metric: str, **labels: str) -> str:
    """`metric{a="x",b="y"}`; a value starting with `~` is a regex match."""
    parts = []
    for key, value in labels.items():
        if value.startswith("~"):
            parts.append(f"{key}=~{_label(value[1:])}")
        else:
            parts.append(f"{key}={_label(value)}")
    return f"{metric}{{{','.join(parts)}}}"


def compare(value: float, rule: str, threshold: float) -> bool:
    return {
        "<": value < threshold,
        "<=": value <= threshold,
        ">": value > threshold,
        ">=": value >= threshold,
        "==": value == threshold,
    }[rule]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value * 100:.4g} %"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "s":
        return f"{value:.0f} s"
    if unit == "pp":
        return f"{value * 100:+.3g} pp"
    if unit == "relative":
        return f"{value * 100:+.3g} %"
    if unit in ("requests", "violations", "alerts", "rollbacks"):
        return f"{value:.0f}"
    return f"{value:g}"


def describe(value: float | None, unit: str) -> str:
    """A gate value as a person reads it (ratios in percent, durations with their unit)."""
    return _fmt(value, unit)


class Judge:
    """Runs the gates of one stack's week against one Prometheus over one window."""

    def __init__(
        self,
        stack: str,
        model: StackConfig,
        from_week: int,
        to_week: int,
        window: Window,
        prometheus: Prometheus,
    ) -> None:
        self.stack = stack
        self.model = model
        self.config: PromotionConfig = model.promotion
        self.from_week = from_week
        self.to_week = to_week
        self.window = window
        self.prom = prometheus
        self.unreachable: str | None = None
        schedule = model.schedule()
        self.ran = week_plan(from_week, schedule).allocation
        self.next = week_plan(to_week, schedule).allocation

    # -- queries ------------------------------------------------------------------------------

    def query(self, promql: str) -> list[Sample] | str:
        """The instant vector at the window's end, or why there is none (a string)."""
        if self.unreachable is not None:
            return self.unreachable
        try:
            return self.prom.instant(promql, self.window.end)
        except PrometheusError as err:
            if "unreachable" in str(err):
                self.unreachable = f"Prometheus unreachable: {err}"
                return self.unreachable
            return f"query failed: {err}"

    def scalar(self, promql: str) -> float | str:
        """The single value of `promql`, or why there is none ("no data", unreachable, ...)."""
        result = self.query(promql)
        if isinstance(result, str):
            return result
        if not result:
            return "no data"
        if len(result) > 1:
            return f"query returned {len(result)} series, expected one"
        value = result[0].value
        return "no data" if math.isnan(value) else value

    def gate(
        self,
        name: str,
        promql: str,
        rule: str,
        threshold: float,
        unit: str,
        *,
        tier: str | None = None,
        service: str | None = None,
        scale: float = 1.0,
        blocked: str | None = None,
        extra: Callable[[float], dict[str, Any]] | None = None,
    ) -> Gate:
        """One threshold gate: pass when `value <rule> threshold`; `blocked` makes it
        inconclusive without querying (e.g. too few requests)."""
        base = Gate(name, INCONCLUSIVE, None, threshold, promql, tier, service, unit, rule)
        if blocked is not None:
            base.detail = blocked
            return base
        value = self.scalar(promql)
        if isinstance(value, str):
            base.detail = value
            return base
        value *= scale
        base.value = value
        base.status = PASS if compare(value, rule, threshold) else FAIL
        if extra is not None:
            base.extra.update(extra(value))
            base.detail = str(base.extra.pop("note", ""))
        return base

    # -- the window --------------------------------------------------------------------------

    @property
    def w(self) -> str:
        return self.window.range

    def tiers_with_traffic(self) -> list[str]:
        """Tiers that served traffic in the week being judged."""
        return [t for t in TIERS if self.ran.weight(t) > 0]

    def tiers_next(self) -> list[str]:
        """Tiers that will serve traffic in the target week."""
        return [t for t in TIERS if self.next.weight(t) > 0]

    # -- per service and tier ---------------------------------------------------------------

    def requests(self, service: str, tier: str) -> str:
        requests = selector("http_requests_total", service=service, tier=tier)
        return f"sum(increase({requests}[{self.w}]))"

    def error_ratio(self, service: str, tier: str) -> str:
        errors = selector("http_requests_total", service=service, tier=tier, code="~5..")
        # `or vector(0)`: a tier without a single 5xx has no error series, and a ratio of 0.
        return f"(sum(increase({errors}[{self.w}])) or vector(0))\n/ {self.requests(service, tier)}"

    def latency_p95(self, service: str, tier: str) -> str:
        buckets = selector("http_request_duration_seconds_bucket", service=service, tier=tier)
        return f"histogram_quantile(0.95, sum by (le) (increase({buckets}[{self.w}])))"

    def service_gates(self, service: str, tier: str) -> list[Gate]:
        c = self.config
        slo = self.model.service(service).slo
        gates = [
            self.gate(
                "traffic",
                self.requests(service, tier),
                ">=",
                c.min_requests,
                "requests",
                tier=tier,
                service=service,
            )
        ]
        traffic = gates[0]
        if traffic.status == PASS:
            traffic.detail = f"requests in {self.w}"
        elif traffic.status == FAIL:
            # Too little traffic makes the ratios inconclusive, not failed.
            traffic.status = INCONCLUSIVE
            traffic.detail = (
                f"{traffic.value:g} requests in {self.w}, fewer than the {c.min_requests} "
                "needed to judge"
            )
        blocked = None if traffic.status == PASS else f"not judged: traffic {traffic.detail}"
        budget = 1 - slo.availability / 100
        gates.append(
            self.gate(
                "error-ratio",
                self.error_ratio(service, tier),
                "<",
                c.max_error_ratio,
                "ratio",
                tier=tier,
                service=service,
                blocked=blocked,
                extra=lambda v: {
                    "target": c.target_error_ratio,
                    "meetsTarget": v < c.target_error_ratio,
                    "note": f"target {describe(c.target_error_ratio, 'ratio')}: "
                    + ("met" if v < c.target_error_ratio else "not met"),
                },
            )
        )
        latency = self.latency_p95(service, tier)
        gates.append(
            self.gate(
                "latency-p95",
                latency,
                "<",
                c.max_latency_p95_ms,
                "ms",
                tier=tier,
                service=service,
                scale=1000,
                blocked=blocked,
            )
        )
        gates.append(
            self.gate(
                "latency-p95-slo",
                latency,
                "<=",
                slo.latency_p95_ms,
                "ms",
                tier=tier,
                service=service,
                scale=1000,
                blocked=blocked,
            )
        )
        gates.append(
            self.gate(
                "availability-slo",
                f"1 - (\n{self.error_ratio(service, tier)}\n)",
                ">=",
                slo.availability / 100,
                "ratio",
                tier=tier,
                service=service,
                blocked=blocked,
                extra=lambda v: {
                    "errorBudget": budget,
                    "budgetSpent": (1 - v) / budget if budget > 0 else None,
                    "note": f"{(1 - v) / budget * 100:.0f} % of the error budget "
                    f"({describe(budget, 'ratio')}) spent in the window"
                    if budget > 0
                    else "no error budget",
                },
            )
        )
        return gates

    def up_gate(self, service: str, tier: str) -> Gate:
        up = selector("up", service=service, tier=tier)
        return self.gate(
            "up",
            f"avg(avg_over_time({up}[{self.w}]))",
            ">=",
            self.config.min_up_ratio,
            "ratio",
            tier=tier,
            service=service,
        )

    # -- pipeline and delivery -----------------------------------------------------------------

    def codegen_gate(self, tier: str) -> Gate:
        total = f"sum(increase({selector('codegen_requests_total', tier=tier)}[{self.w}]))"
        ok = selector("codegen_requests_total", tier=tier, outcome="success")
        count = self.scalar(total)
        blocked = None
        if isinstance(count, str):
            blocked = count
        elif count < self.config.min_requests:
            blocked = (
                f"{count:g} code generation requests in {self.w}, fewer than the "
                f"{self.config.min_requests} needed to judge"
            )
        gate = self.gate(
            "codegen-success",
            f"(sum(increase({ok}[{self.w}])) or vector(0))\n/ {total}",
            ">=",
            self.config.min_codegen_success,
            "ratio",
            tier=tier,
            blocked=blocked,
        )
        gate.extra["requests"] = None if isinstance(count, str) else count
        return gate

    def delivery_gates(self) -> list[Gate]:
        c = self.config
        w = self.w
        deployments = selector("deployments_total", stack=self.stack)
        succeeded = selector("deployments_total", stack=self.stack, outcome="success")
        violations = selector("policy_violations", stack=self.stack, enforcement="mandatory")
        return [
            self.gate(
                "deployment-success",
                f"(sum(increase({succeeded}[{w}])) or vector(0))\n"
                f"/ (sum(increase({deployments}[{w}])) > 0)",
                ">=",
                c.min_deployment_success,
                "ratio",
            ),
            self.gate(
                "test-coverage",
                f"min(last_over_time(test_coverage_ratio[{w}]))",
                ">=",
                c.min_test_coverage,
                "ratio",
            ),
            self.gate(
                "validation-pipeline",
                f"max(avg_over_time(validation_pipeline_duration_seconds[{w}]))",
                "<",
                c.max_validation_pipeline_seconds,
                "s",
            ),
            self.gate(
                "ci-policy-violations",
                f"sum(max_over_time({violations}[{w}]))",
                "==",
                0,
                "violations",
            ),
        ]

    # -- incidents and rollbacks -----------------------------------------------------------------

    def alerts_gate(self, name: str, matchers: dict[str, str], what: str) -> Gate:
        alerts = selector("ALERTS", alertstate="firing", **matchers)
        promql = f"count by (alertname, tier, service) (max_over_time({alerts}[{self.w}]))"
        gate = Gate(name, INCONCLUSIVE, None, 0, promql, unit="alerts", rule="==")
        result = self.query(promql)
        if isinstance(result, str):
            gate.detail = result
            return gate
        # No series: nothing fired (ALERTS exists only while an alert is pending or firing).
        fired = sorted(
            "/".join(
                s.labels.get(k, "") for k in ("alertname", "tier", "service") if s.labels.get(k)
            )
            for s in result
        )
        gate.value = float(len(fired))
        gate.status = PASS if not fired else FAIL
        gate.detail = f"{what} fired: {', '.join(fired)}" if fired else f"no {what} fired"
        gate.extra["alerts"] = fired
        return gate

    def ledger_gate(self, ledger: Ledger | None, source: str) -> Gate:
        """Whether the ledger is held, or recorded a rollback (or its resume) in the window."""
        gate = Gate("rollback-ledger", PASS, 0, 0, None, unit="rollbacks", rule="==")
        gate.extra["ledgerSource"] = source
        if ledger is None:
            gate.detail = f"no ledger ({source}): no rollback recorded"
            return gate
        gate.extra["ledger"] = ledger.as_dict()
        when = _timestamp(ledger.at)
        in_window = when is not None and self.window.start <= when <= self.window.end
        if ledger.held:
            gate.status, gate.value = FAIL, 1
            gate.detail = (
                f"rollback held since {ledger.at} ({ledger.trigger}, tier {ledger.tier or '-'}: "
                f"{ledger.reason or '-'})"
            )
        elif in_window and ledger.trigger == "resume":
            gate.status, gate.value = FAIL, 1
            gate.detail = f"a rollback hold was cleared at {ledger.at}, inside the window"
        else:
            gate.detail = f"not held ({source})"
        return gate

    # -- all of them ---------------------------------------------------------------------------

    def run(self, ledger: Ledger | None, ledger_source: str) -> list[Gate]:
        from rollout_cli.advance.statistics import comparison_gates

        gates = [self.ledger_gate(ledger, ledger_source)]
        services = [s.name for s in self.model.services]
        ran = self.tiers_with_traffic()
        for tier in ran:
            for service in services:
                gates.extend(self.service_gates(service, tier))
        for tier in self.tiers_next():
            for service in services:
                gates.append(self.up_gate(service, tier))
        for tier in ran:
            gates.append(self.codegen_gate(tier))
        gates.extend(self.delivery_gates())
        gates.append(
            self.alerts_gate("critical-alerts", {"severity": "critical"}, "critical alert")
        )
        gates.append(self.alerts_gate("rollbacks", {"action": "rollback"}, "rollback alert"))
        gates.extend(comparison_gates(self, services))
        return gates


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def failing(gates: Iterable[Gate]) -> list[Gate]:
    """Gates that did not pass, in order."""
    return [g for g in gates if g.status != PASS]
