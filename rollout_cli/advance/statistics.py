"""The Kayenta-style comparison: is the newer tier significantly worse than the older one?

The newer tier is canary; it is compared with the tier it takes traffic from: production once
production has traffic, sandbox before. For each service, the window is cut into intervals of
`promotion.comparison.interval`; each interval gives one error ratio and one p95 per tier. A
one-sided Mann-Whitney U test (scipy) asks whether canary's values tend to be larger than the
baseline's. The gate fails only when the difference is both significant (p < alpha) and large
enough to matter (the effect size reaches its minimum): a tiny but consistent difference over a
busy week is not a reason to stop a rollout, and a large one on a few noisy intervals is not
proof. Too few intervals with traffic in either tier is inconclusive.

Effect sizes: for error ratios, the increase of the median (absolute, 0.002 = 0.2 percentage
points); for latency, the relative increase of the median p95 (0.10 = 10 %). The report also
gives the common-language effect size U / (n1 n2), the probability that a canary interval is
worse than a baseline one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rollout_cli.advance.gates import FAIL, INCONCLUSIVE, PASS, Gate, selector
from rollout_cli.advance.prometheus import PrometheusError
from rollout_cli.advance.window import format_duration, parse_duration

if TYPE_CHECKING:
    from rollout_cli.advance.gates import Judge

CANDIDATE = "canary"


def baseline_tier(judge: Judge) -> str | None:
    """The tier canary takes traffic from in the judged week, or None when there is no pair."""
    if judge.ran.weight(CANDIDATE) == 0:
        return None
    for tier in ("production", "sandbox"):
        if judge.ran.weight(tier) > 0:
            return tier
    return None


def mann_whitney(candidate: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """One-sided Mann-Whitney U (candidate greater): (p-value, U / (n1 n2))."""
    from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]

    result = mannwhitneyu(candidate, baseline, alternative="greater", method="auto")
    p = float(result.pvalue)
    # All values tied (e.g. no errors at all in either tier): no evidence of a difference.
    return (1.0 if math.isnan(p) else p), float(result.statistic) / (len(candidate) * len(baseline))


def comparison_gates(judge: Judge, services: Sequence[str]) -> list[Gate]:
    baseline = baseline_tier(judge)
    if baseline is None:
        return []
    return [g for s in services for g in _compare(judge, s, baseline)]


def _queries(service: str, tiers: str, interval: str) -> dict[str, str]:
    requests = selector("http_requests_total", service=service, tier=f"~{tiers}")
    errors = selector("http_requests_total", service=service, tier=f"~{tiers}", code="~5..")
    buckets = selector("http_request_duration_seconds_bucket", service=service, tier=f"~{tiers}")
    total = f"sum by (tier) (increase({requests}[{interval}]))"
    return {
        "error-ratio": (
            f"(sum by (tier) (increase({errors}[{interval}])) or on (tier) 0 * {total})\n/ {total}"
        ),
        "latency-p95": (
            f"histogram_quantile(0.95, sum by (tier, le) (increase({buckets}[{interval}])))"
        ),
    }


def _compare(judge: Judge, service: str, baseline: str) -> list[Gate]:
    c = judge.config.comparison
    step = parse_duration(c.interval)
    interval = format_duration(step)
    window = judge.window
    queries = _queries(service, f"{CANDIDATE}|{baseline}", interval)
    minimum = {"error-ratio": c.min_error_ratio_increase, "latency-p95": c.min_latency_increase}
    gates = []
    for metric, promql in queries.items():
        gate = Gate(
            f"compare-{metric}",
            INCONCLUSIVE,
            None,
            minimum[metric],
            promql,
            CANDIDATE,
            service,
            "pp" if metric == "error-ratio" else "relative",
            ">=",
        )
        gate.extra.update({"baseline": baseline, "interval": interval, "alpha": c.alpha})
        gates.append(gate)
        if judge.unreachable is not None:
            gate.detail = judge.unreachable
            continue
        try:
            series = judge.prom.range(promql, window.start + step, window.end, step)
        except PrometheusError as err:
            if "unreachable" in str(err):
                judge.unreachable = f"Prometheus unreachable: {err}"
            gate.detail = judge.unreachable or f"query failed: {err}"
            continue
        samples: dict[str, list[float]] = {CANDIDATE: [], baseline: []}
        for s in series:
            tier = s.labels.get("tier", "")
            if tier in samples:
                samples[tier].extend(v for _, v in s.points if not math.isinf(v))
        counts = {tier: len(values) for tier, values in samples.items()}
        gate.extra["samples"] = counts
        short = [t for t, n in counts.items() if n < c.min_samples]
        if short:
            gate.detail = (
                f"too few {interval} intervals with traffic to compare "
                f"({', '.join(f'{t} {counts[t]}' for t in short)}; at least {c.min_samples})"
            )
            continue
        _judge(gate, metric, samples[CANDIDATE], samples[baseline], c.alpha)
    return gates


def _judge(
    gate: Gate, metric: str, candidate: list[float], baseline: list[float], alpha: float
) -> None:
    p, cles = mann_whitney(candidate, baseline)
    m_candidate, m_baseline = statistics.median(candidate), statistics.median(baseline)
    if metric == "error-ratio":
        effect = m_candidate - m_baseline
        shown = f"{effect * 100:+.3g} percentage points"
    else:
        effect = (m_candidate / m_baseline - 1) if m_baseline > 0 else math.inf
        shown = f"{effect * 100:+.3g} %"
    assert gate.threshold is not None
    worse = p < alpha and effect >= gate.threshold
    gate.status = FAIL if worse else PASS
    gate.value = effect if math.isfinite(effect) else None
    extra: dict[str, Any] = {
        "pValue": p,
        "effectSize": gate.value,
        "commonLanguageEffect": cles,
        "medianCandidate": m_candidate,
        "medianBaseline": m_baseline,
    }
    gate.extra.update(extra)
    verdict = "significantly worse" if worse else "not significantly worse"
    gate.detail = (
        f"{CANDIDATE} vs {gate.extra['baseline']}: median {m_candidate:.4g} vs {m_baseline:.4g} "
        f"({shown}), Mann-Whitney U p={p:.3g}, P(canary worse)={cles:.2f}: {verdict} "
        f"(fails at p < {alpha:g} and effect >= {gate.threshold:g})"
    )
