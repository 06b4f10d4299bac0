"""Offline CrossGuard evaluation, faithful to the engine (`rollout policy ...`).

The policy pack is started the way the Pulumi engine starts a Python pack
(``python -u -m pulumi.policy <engine-address> .`` from the pack directory, the pack's runtime
options as ``-key=value`` arguments, PULUMI_* variables in the environment), its port read from
the first line of its stdout, and then spoken to over the ``pulumirpc.Analyzer`` gRPC protocol:
Handshake, ConfigureStack, GetPluginInfo, GetAnalyzerInfo, Configure (config reconciled the way
the engine reconciles it, with an explicit enforcement level for every policy), Remediate and
Analyze for each resource with its inputs, and AnalyzeStack with every resource's outputs,
parent, dependencies and property dependencies. An in-process ``pulumirpc.Engine`` server
answers the engine address given to the pack and keeps its log messages.

Input is a state in ``pulumi stack export`` shape, from a file or rendered offline for one of
the project's stacks. The result renders as text, JSON, SARIF 2.1.0, JUnit XML or Markdown.

Where this differs from the engine, on purpose: Remediate is called only when some policy is
configured at ``remediate`` (otherwise the pack's answer is empty by construction and the call
would double the cost); a config key naming no policy is an error, not ignored; encrypted
secrets in an exported state cannot be decrypted offline and travel as unknowns.

Modules, in the order a check runs:

- ``state``: a stack export (file, render directory or offline plan) as validated resources.
- ``wire``: those resources as the engine marshals them for analyzers (secrets, unknowns,
  references, providers, options).
- ``metadata``: what the pack says about each policy; enforcement levels and severities.
- ``config``: the policy pack config, reconciled as the engine reconciles it.
- ``engine`` and ``process``: the engine service the pack talks back to, and the pack process.
- ``host``: ``PolicyHost``, the analyzer protocol over a running pack; ``evaluate`` for one state.
- ``report``: the outcome of an evaluation and its verdict.
- ``formats``: one module per output format, and the coverage matrix.
- ``cli``: the ``rollout policy`` commands.
"""
