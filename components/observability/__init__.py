"""Observability of the coding system: Prometheus rules, Alertmanager routing, Grafana dashboards.

The pure builders (rules, alertmanager, dashboards, charts) decide what is deployed; component.py
turns that into resources, and the tooling's renderer into files for `rollout render`. The config
model is config.py.
"""
