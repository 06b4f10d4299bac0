"""Assembles the codex-rollout policy pack. The engine starts it as
``python -m pulumi.policy <engine-address> .`` from this directory, in the virtualenv named by
PulumiPolicy.yaml, where the project is installed: ``policies`` and ``rollout_rules`` import
from there."""

from rollout_rules.runtime import tune_gc

tune_gc()  # before the SDKs load: see rollout_rules/runtime.py

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies import one_pass  # noqa: E402
from policies.pack import PACK_DESCRIPTION, PACK_NAME, all_policies  # noqa: E402

# Each request decoded once for all policies (policies/one_pass.py); the SDK's own analyzer for
# any other SDK version or with ROLLOUT_POLICY_ANALYZER=sdk.
one_pass.install()
PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
)
