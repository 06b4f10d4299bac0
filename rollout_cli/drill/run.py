"""The drill: set up, inject one fault, time every hand-off to the traffic move, check, stop.

Timeline events, in seconds after the fault took effect:
1. fault injected (0);
2. alert pending: the alert's `activeAt` in Prometheus (the evaluation that first saw it);
3. alert firing: first seen firing in Prometheus's alerts API (polled every 0.1 s);
4. notification sent: the SNS message's timestamp (when moto accepted Alertmanager's Publish);
5. function invoked: the handler is called with the message as Lambda's SNS event;
6. listener weights changed, 7. ledger held, 8. audit written: when the function's
   ModifyListener, its ledger PutParameter and its final (applied) audit PutItem returned,
   taken from botocore's events on the function's own clients.
The total is fault to traffic moved (event 6).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import yaml

from components.observability.rules import ERROR_RATE_HIGH, LATENCY_P95_HIGH, TIER_DOWN
from rollout_cli.offline import PlanResult
from rollout_cli.render import render
from rollout_rules.contract import ENV_ROLLBACK_PLAN
from rollout_rules.plan import week_plan

from . import aws as drill_aws
from .configs import (
    LOCAL_ACCESS_KEY,
    LOCAL_SECRET_KEY,
    local_alertmanager,
    prometheus_config,
    scrape_job,
    service_monitors,
)
from .processes import DrillSetupError, Server, binary, free_port, moto_server
from .workload import FAULTS, Sink, Workload

ALERTS = {"error-rate": ERROR_RATE_HIGH, "latency": LATENCY_P95_HIGH, "down": TIER_DOWN}
"""The rollback alert each fault should raise."""
BUDGET_TRIGGER = "prometheus-alert"
"""The budget entry of the path the drill runs (rollout_rules.rollback.rollback_budget)."""
EVENTS = (
    "fault injected",
    "alert pending",
    "alert firing",
    "notification sent",
    "function invoked",
    "listener weights changed",
    "ledger held",
    "audit written",
)
TOTAL_REQUESTS_PER_SECOND = 50.0
"""Traffic of the stand-in workloads, split over the tiers by the week's weights."""
WARM_UP_TIMEOUT = 180.0
POLL = 0.1


class DrillInputError(ValueError):
    """The tier or fault does not make a drill; str(err) says why."""


@dataclass
class DrillResult:
    stack: str
    week: int
    tier: str
    fault: str
    alert: str
    budget_seconds: int
    allocation_before: dict[str, int]
    expected_after: dict[str, int]
    budget_parts: dict[str, int] = field(default_factory=dict)
    timeline: list[tuple[str, float]] = field(default_factory=list)
    allocation_after: dict[str, int] | None = None
    ledger: dict[str, Any] | None = None
    audit_records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float | None:
        return dict(self.timeline).get("listener weights changed")

    @property
    def passed(self) -> bool:
        total = self.total_seconds
        return not self.failures and total is not None and total <= self.budget_seconds

    def as_dict(self) -> dict[str, Any]:
        total = self.total_seconds
        return {
            "stack": self.stack,
            "week": self.week,
            "tier": self.tier,
            "fault": self.fault,
            "alert": self.alert,
            "timeline": [{"event": e, "atSeconds": round(t, 2)} for e, t in self.timeline],
            "totalSeconds": None if total is None else round(total, 2),
            "budgetSeconds": self.budget_seconds,
            "budgetParts": self.budget_parts,
            "passed": self.passed,
            "allocationBefore": self.allocation_before,
            "allocationAfter": self.allocation_after,
            "expectedAllocation": self.expected_after,
            "ledger": self.ledger,
            "auditRecords": self.audit_records,
            "failures": self.failures,
        }


def check_inputs(plan: PlanResult, tier: str, fault: str) -> None:
    """Refuse a drill that cannot raise the alert: unknown fault, tier without traffic."""
    if fault not in FAULTS:
        raise DrillInputError(f"--fault {fault}: not one of {', '.join(FAULTS)}")
    weights = week_plan(plan.week, plan.config.schedule()).allocation.as_dict()
    if tier not in weights:
        raise DrillInputError(f"--tier {tier}: not one of {', '.join(weights)}")
    if weights[tier] == 0:
        raise DrillInputError(
            f"--tier {tier}: has no traffic in week {plan.week} "
            f"({'/'.join(str(w) for w in weights.values())}), so no alert can fire for it"
        )


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class _Clock:
    """Times of the function's AWS calls, from botocore's events on its session."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.at: dict[str, float] = {}
        self._item_status: str | None = None
        events = session.events
        events.register("after-call.elastic-load-balancing-v2.ModifyListener", self._moved)
        events.register("after-call.ssm.PutParameter", self._ledger)
        events.register("before-parameter-build.dynamodb.PutItem", self._item)
        events.register("after-call.dynamodb.PutItem", self._audit)

    def _ok(self, kwargs: dict[str, Any]) -> bool:
        response = kwargs.get("http_response")
        return response is not None and response.status_code < 300

    def _moved(self, **kwargs: Any) -> None:
        if self._ok(kwargs):
            self.at.setdefault("listener weights changed", time.time())

    def _ledger(self, **kwargs: Any) -> None:
        if self._ok(kwargs):
            self.at.setdefault("ledger held", time.time())

    def _item(self, params: dict[str, Any], **_: Any) -> None:
        self._item_status = ((params.get("Item") or {}).get("status") or {}).get("S")

    def _audit(self, **kwargs: Any) -> None:
        if self._ok(kwargs) and self._item_status == "applied":
            self.at.setdefault("audit written", time.time())


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Drill:
    """One drill of `fault` in `tier` for the plan's stack and week."""

    def __init__(
        self,
        plan: PlanResult,
        tier: str,
        fault: str,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        check_inputs(plan, tier, fault)
        self.plan = plan
        self.tier = tier
        self.fault = fault
        self.progress = progress
        self.service = plan.config.routing.service
        declared = json.loads(drill_aws.function_variables(plan)[ENV_ROLLBACK_PLAN])
        self.rollback_plan = declared
        weights = week_plan(plan.week, plan.config.schedule()).allocation.as_dict()
        self.result = DrillResult(
            stack=plan.stack,
            week=plan.week,
            tier=tier,
            fault=fault,
            alert=ALERTS[fault],
            budget_seconds=int(declared["budget"]["triggers"][BUDGET_TRIGGER]["seconds"]),
            budget_parts={
                name: int(seconds)
                for name, seconds in declared["budget"]["triggers"][BUDGET_TRIGGER]["parts"].items()
            },
            allocation_before=weights,
            expected_after={k: int(v) for k, v in declared["allocations"][tier].items()},
        )

    # -- set-up -------------------------------------------------------------------------------

    def _start(self, stack: ExitStack, work: Path) -> None:
        rendered = work / "render"
        self.progress(f"rendering {self.plan.stack} week {self.plan.week}")
        render(self.plan, rendered)

        if importlib.util.find_spec("moto") is None:
            raise DrillSetupError("moto is not installed (pip install 'moto[server]==5.2.5')")
        moto, moto_endpoint = moto_server(work / "moto.log")
        stack.callback(moto.stop)
        self.progress("starting moto server")
        moto.start()
        self.aws = drill_aws.create(self.plan, moto_endpoint)

        sink = Sink()
        stack.callback(sink.stop)
        am_port = free_port()
        am_dir = work / "alertmanager"
        am_dir.mkdir()
        am_config = local_alertmanager(
            yaml.safe_load((rendered / "alertmanager" / "alertmanager.yaml").read_text()),
            sns_endpoint=self.aws.endpoint,
            topic_arn=self.aws.rollback_topic_arn,
            region=self.aws.region,
            sink_url=sink.url,
            smarthost=f"127.0.0.1:{free_port()}",
        )
        (am_dir / "alertmanager.yaml").write_text(yaml.safe_dump(am_config, width=1000))
        alertmanager = Server(
            "alertmanager",
            [
                binary("prometheus-alertmanager", "prometheus-alertmanager"),
                f"--config.file={am_dir / 'alertmanager.yaml'}",
                f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            f"http://127.0.0.1:{am_port}/-/ready",
            work / "alertmanager.log",
        )
        stack.callback(alertmanager.stop)
        self.progress("starting alertmanager")
        alertmanager.start()

        weights = self.result.allocation_before
        monitors = service_monitors(rendered / "k8s")
        self.workloads: dict[tuple[str, str], Workload] = {}
        jobs = []
        for (service, tier), endpoint in sorted(monitors.items()):
            if weights.get(tier, 0) == 0:
                continue
            workload = Workload(service, tier, TOTAL_REQUESTS_PER_SECOND * weights[tier] / 100)
            stack.callback(workload.stop)
            workload.start()
            self.workloads[(service, tier)] = workload
            jobs.append(scrape_job(service, tier, endpoint, workload.target))
        if (self.service, self.tier) not in self.workloads:
            raise DrillSetupError(
                f"no rendered ServiceMonitor for {self.service} in {self.tier}: nothing to scrape"
            )
        prom_port = free_port()
        prom_dir = work / "prometheus"
        prom_dir.mkdir()
        rules = prom_dir / "rules.yaml"
        rules.write_text((rendered / "prometheus" / "rules.yaml").read_text())
        document = prometheus_config(
            self.plan.config.observability.evaluation_interval,
            rules,
            f"127.0.0.1:{am_port}",
            jobs,
        )
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(document))
        prometheus = Server(
            "prometheus",
            [
                binary("prometheus", "prometheus"),
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            f"http://127.0.0.1:{prom_port}/-/ready",
            work / "prometheus.log",
        )
        stack.callback(prometheus.stop)
        self.progress("starting prometheus")
        prometheus.start()
        self.prometheus = f"http://127.0.0.1:{prom_port}"

    def _warm_up(self) -> None:
        """Wait until Prometheus sees the tier serving traffic, so the alert's guard holds."""
        guard = self.plan.config.observability.thresholds.min_request_rate
        query = (
            f'service_tier:http_requests:rate5m{{service="{self.service}",tier="{self.tier}"}}'
            f" >= {guard}"
        )
        self.progress(f"warming up: waiting for {query}")
        deadline = time.monotonic() + WARM_UP_TIMEOUT
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        while time.monotonic() < deadline:
            if _get_json(url)["data"]["result"]:
                return
            time.sleep(0.5)
        raise DrillSetupError(f"Prometheus did not see {self.tier} serving in {WARM_UP_TIMEOUT}s")

    # -- the drill ----------------------------------------------------------------------------

    def _alert_state(self) -> tuple[str, float] | None:
        """(state, activeAt) of the drill's alert for its service and tier, if active."""
        alerts = _get_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]
        for alert in alerts:
            labels = alert["labels"]
            if (
                labels.get("alertname") == self.result.alert
                and labels.get("tier") == self.tier
                and labels.get("service") == self.service
            ):
                return str(alert["state"]), _epoch(alert["activeAt"])
        return None

    def _invoke(self, event: dict[str, Any], clock_session: boto3.session.Session) -> None:
        from components.rollback.function import handler, logs
        from components.rollback.function.store import Clients

        handler._CLIENTS = Clients.create(clock_session)
        logs.LOG_STREAM = self.function_log
        handler.handler(event, _Context())

    def _run(self, work: Path) -> None:
        timeline: dict[str, float] = {}
        workload = self.workloads[(self.service, self.tier)]
        self._warm_up()
        timeout = max(3 * self.result.budget_seconds, 180)
        self.progress(f"injecting {self.fault} into {self.service} in {self.tier}")
        fault_at = workload.inject(self.fault)
        timeline["fault injected"] = fault_at
        deadline = time.monotonic() + timeout
        self.function_log = (work / "function.log").open("w")
        env = {
            **self.aws.env,
            "AWS_ENDPOINT_URL": self.aws.endpoint,
            "AWS_REGION": self.aws.region,
            "AWS_DEFAULT_REGION": self.aws.region,
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        }
        try:
            with _environment(env):
                session = boto3.session.Session()
                clock = _Clock(session)
                while "audit written" not in clock.at:
                    if time.monotonic() > deadline:
                        last = max(timeline, key=lambda e: EVENTS.index(e))
                        raise _TimeoutError(
                            f"no traffic move within {timeout}s of the fault (last: {last})"
                        )
                    if "alert firing" not in timeline:
                        state = self._alert_state()
                        if state is not None:
                            timeline.setdefault("alert pending", state[1])
                            if state[0] == "firing":
                                timeline["alert firing"] = time.time()
                                self.progress("alert firing")
                    for notification in self.aws.receive(wait_seconds=0):
                        timeline.setdefault("notification sent", _epoch(notification["Timestamp"]))
                        timeline.setdefault("function invoked", time.time())
                        self.progress("notification received; invoking the function")
                        self._invoke(
                            drill_aws.lambda_sns_event(notification, self.aws.rollback_topic_arn),
                            session,
                        )
                        timeline.update({k: v for k, v in clock.at.items() if k not in timeline})
                    time.sleep(POLL)
        finally:
            self.function_log.close()
            self.result.timeline = sorted(
                ((e, t - fault_at) for e, t in timeline.items()),
                key=lambda item: EVENTS.index(item[0]),
            )

    def _check(self) -> None:
        r = self.result
        r.allocation_after = self.aws.weights()
        r.ledger = self.aws.ledger()
        r.audit_records = self.aws.audit_items()
        if r.allocation_after != r.expected_after:
            r.failures.append(
                f"listener weights {r.allocation_after}, the rollback plan says {r.expected_after}"
            )
        if not r.ledger.get("held"):
            r.failures.append("the ledger is not held")
        if len(r.audit_records) != 1:
            r.failures.append(f"{len(r.audit_records)} audit records, expected exactly one")
        order = [e for e, _ in r.timeline]
        times = [t for _, t in r.timeline]
        if order != list(EVENTS):
            missing = [e for e in EVENTS if e not in order]
            r.failures.append(f"timeline incomplete: missing {', '.join(missing)}")
        elif any(b < a - 0.5 for a, b in itertools.pairwise(times)):
            # Prometheus and moto stamp with whole milliseconds or evaluation times; half a
            # second of slack, not more: a step before its cause is a measuring error.
            r.failures.append(f"timeline out of order: {r.timeline}")
        total = r.total_seconds
        if total is not None and total > r.budget_seconds:
            r.failures.append(
                f"traffic moved after {total:.1f}s, over the {r.budget_seconds}s budget"
            )

    def run(self, workdir: Path | None = None) -> DrillResult:
        """Run the drill; everything started is stopped, by PID, whatever happens."""
        with tempfile.TemporaryDirectory(prefix="rollout-drill-") as tmp, ExitStack() as stack:
            work = workdir or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            self._start(stack, work)
            try:
                self._run(work)
            except _TimeoutError as err:
                self.result.failures.append(str(err))
            self._check()
        return self.result


class _TimeoutError(Exception):
    pass


class _Context:
    """What the handler reads from Lambda's context object."""

    aws_request_id = "drill-0001"
    function_name = "rollback-drill"
