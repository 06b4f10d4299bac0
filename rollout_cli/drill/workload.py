"""Stand-in workloads: one small HTTP server per (service, tier) exporting the metric contract.

Each serves steady, healthy traffic at a fixed request rate: `http_requests_total` by `code`
(the 5xx series exists from the start at 0, as a client library that pre-initialises its
label values exports it), the `http_request_duration_seconds` histogram and
`codegen_requests_total`. Counters follow the clock, so every scrape sees the traffic since the
server started. `service` and `tier` are not exported: the scrape configuration sets them, as
the ServiceMonitor does in the cluster. Prometheus derives `up` from the scrape.

Faults (from the moment they are injected):
- error-rate: half of the requests answer 500;
- latency: every request takes 1.2 s (above the plan's 0.5 s p95 threshold);
- down: the server stops, so scrapes fail and `up` is 0.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("error-rate", "latency", "down")
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HEALTHY_SECONDS = 0.08
SLOW_SECONDS = 1.2
ERROR_SHARE = 0.5


class Workload:
    """One stand-in service in one tier, serving `/metrics` on a loopback port."""

    def __init__(self, service: str, tier: str, requests_per_second: float) -> None:
        self.service = service
        self.tier = tier
        self.rate = requests_per_second
        self.started = time.time()
        self.fault: str | None = None
        self.fault_at: float | None = None
        self._lock = threading.Lock()
        workload = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = workload.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def inject(self, fault: str) -> float:
        """Start `fault` now; returns the time (Unix seconds) it took effect."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self.fault, self.fault_at = fault, time.time()
        if fault == "down":
            self.stop()
        assert self.fault_at is not None
        return self.fault_at

    def counts(self, now: float) -> dict[str, float]:
        """Requests so far: total, 5xx, and how many took the slow path."""
        with self._lock:
            fault, since = self.fault, self.fault_at
        total = self.rate * (now - self.started)
        faulty = 0.0 if since is None else self.rate * max(0.0, now - since)
        return {
            "total": total,
            "errors": faulty * ERROR_SHARE if fault == "error-rate" else 0.0,
            "slow": faulty if fault == "latency" else 0.0,
        }

    def exposition(self) -> str:
        """The Prometheus text format of the contract's metrics, now."""
        c = self.counts(time.time())
        fast = c["total"] - c["slow"]
        lines = [
            "# HELP http_requests_total Requests served, by HTTP status code.",
            "# TYPE http_requests_total counter",
            f'http_requests_total{{code="200"}} {c["total"] - c["errors"]:.3f}',
            f'http_requests_total{{code="500"}} {c["errors"]:.3f}',
            "# HELP http_request_duration_seconds Request duration.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for le in BUCKETS:
            count = (fast if le >= HEALTHY_SECONDS else 0.0) + (
                c["slow"] if le >= SLOW_SECONDS else 0.0
            )
            lines.append(f'http_request_duration_seconds_bucket{{le="{le:g}"}} {count:.3f}')
        lines += [
            f'http_request_duration_seconds_bucket{{le="+Inf"}} {c["total"]:.3f}',
            "http_request_duration_seconds_sum "
            f"{fast * HEALTHY_SECONDS + c['slow'] * SLOW_SECONDS:.3f}",
            f"http_request_duration_seconds_count {c['total']:.3f}",
            "# HELP codegen_requests_total Code generation requests, by outcome.",
            "# TYPE codegen_requests_total counter",
            f'codegen_requests_total{{outcome="success"}} {c["total"]:.3f}',
            f'codegen_requests_total{{outcome="failure"}} {0:.3f}',
        ]
        return "\n".join(lines) + "\n"


class Sink:
    """An HTTP endpoint that accepts anything (stands in for PagerDuty and Slack)."""

    def __init__(self) -> None:
        self.received = 0

        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
