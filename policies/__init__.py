"""The codex-rollout CrossGuard policy pack.

One module per domain (security, k8s, gdpr, soc2, licensing, rollout), each exporting
``POLICIES``; ``pack.py`` lists them and ``__main__.py`` assembles the pack the engine runs.
"""
