"""Assembles the codex-rollout policy pack. The engine starts it as
``python -m pulumi.policy <engine-address> .`` from this directory."""

import sys
from pathlib import Path

# Run as a script from the pack directory: make the repository root importable so the pack
# loads in any virtualenv that has the pack's dependencies, installed project or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_DESCRIPTION, PACK_NAME, all_policies

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
)
