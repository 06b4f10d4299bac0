"""A small client of Prometheus's HTTP query API (instant and range queries), standard library
only. Any failure to reach Prometheus or to get a successful answer is PrometheusError: the
gates turn it into `inconclusive`, never into a pass."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class PrometheusError(Exception):
    """Prometheus could not be reached or did not answer a query."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and value."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and (timestamp, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


def _float(raw: str) -> float:
    # Prometheus writes NaN and infinities as strings: "NaN", "+Inf", "-Inf".
    return float(raw)


class Prometheus:
    """Queries one Prometheus server at `url` (e.g. http://127.0.0.1:9090)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> Any:
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"{self.url}{path}?{query}", method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as err:
            try:
                detail = json.load(err).get("error", "")
            except (ValueError, OSError):
                detail = ""
            raise PrometheusError(f"{self.url}: HTTP {err.code} {detail}".strip()) from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise PrometheusError(f"{self.url}: unreachable ({reason})") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise PrometheusError(f"{self.url}: query failed ({body.get('error', body)})")
        return body["data"]

    def instant(self, query: str, at: float) -> list[Sample]:
        """The instant vector of `query` at unix time `at` (NaN values dropped)."""
        data = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        if data.get("resultType") == "scalar":
            value = _float(data["result"][1])
            return [] if math.isnan(value) else [Sample({}, value)]
        samples = [Sample(item["metric"], _float(item["value"][1])) for item in data["result"]]
        return [s for s in samples if not math.isnan(s.value)]

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        """The range query of `query` from `start` to `end` every `step` seconds (NaN dropped)."""
        data = self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        result = []
        for item in data["result"]:
            points = [(float(t), _float(v)) for t, v in item["values"]]
            result.append(Series(item["metric"], [p for p in points if not math.isnan(p[1])]))
        return result
