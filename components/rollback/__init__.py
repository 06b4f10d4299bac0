"""Automated rollback: the function (the `function` package), its component, the Alertmanager
contract."""
