"""`rollout advance`: promote a stack one rollout week when the week that ran passed its gates.

- window.py: the judged window (from `--window`, or the stack file's git history);
- prometheus.py: a small client of Prometheus's HTTP API;
- gates.py: the gates, their PromQL and their verdicts;
- statistics.py: the Kayenta-style comparison of the newer tier against the older one;
- report.py and formats.py: the verdict and its text, JSON and Markdown forms;
- writer.py: `rollout.week` written as `pulumi config set --path` would;
- cli.py: the command.
"""
