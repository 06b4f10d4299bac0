"""Automated rollback: the function (handler.py), its component, the Alertmanager contract."""
