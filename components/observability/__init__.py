"""Observability of the coding system: Prometheus rules, Alertmanager routing, Grafana dashboards.

The pure builders (rules, alertmanager, dashboards, charts) decide what is deployed; component.py
turns that into resources and render.py into files for `rollout render`.
"""

from components.observability.component import Observability, ObservabilityArgs

__all__ = ["Observability", "ObservabilityArgs"]
