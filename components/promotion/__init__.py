"""Promotion gates: what must hold in Prometheus before `rollout advance` moves a stack a week."""
