"""The Gatekeeper objects: templates carry the Rego of policies/rego in Rego v1, validate against
the vendored ConstraintTemplate CRD schema, and constraints against the constraint schema
Gatekeeper generates from each template."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from components.admission.config import AdmissionConfig
from components.admission.templates import (
    REGO_DIR,
    RULES,
    Settings,
    constraint,
    constraint_template,
)
from rollout_rules.contract import namespace_for
from rollout_rules.plan import TIERS

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
TEMPLATE_SCHEMA = json.loads(
    (SCHEMAS / "constrainttemplate.templates.gatekeeper.sh-v1.json").read_text()
)
CONSTRAINT_SCHEMA = json.loads(
    (SCHEMAS / "constraint.constraints.gatekeeper.sh-v1beta1.json").read_text()
)
SETTINGS = Settings(["ghcr.io/codex-dominion"], ["MIT"], ["AGPL-3.0"])


def constraint_schema(template: dict[str, Any]) -> dict[str, Any]:
    """The constraint CRD schema Gatekeeper generates for a template (parameters in place)."""
    schema = copy.deepcopy(CONSTRAINT_SCHEMA)
    parameters = template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["parameters"] = {
        **parameters,
        "additionalProperties": False,
    }
    schema["properties"]["kind"] = {"const": template["spec"]["crd"]["spec"]["names"]["kind"]}
    return schema


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.kind)
def test_template_validates_and_carries_the_rego_file(rule: Any) -> None:
    template = constraint_template(rule, {"app.kubernetes.io/part-of": "codex"})
    jsonschema.validate(template, TEMPLATE_SCHEMA)
    (target,) = template["spec"]["targets"]
    assert target["target"] == "admission.k8s.gatekeeper.sh"
    (code,) = target["code"]
    assert code == {
        "engine": "Rego",
        "source": {"version": "v1", "rego": (REGO_DIR / f"{rule.kind.lower()}.rego").read_text()},
    }
    # Gatekeeper names the constraint CRD after the template; the package follows the name.
    assert template["metadata"]["name"] == rule.kind.lower()
    assert re.search(rf"^package {rule.kind.lower()}$", code["source"]["rego"], re.M)
    assert "input.review.object" in code["source"]["rego"]


def test_every_rego_file_is_a_template() -> None:
    assert sorted(p.stem for p in REGO_DIR.glob("*.rego")) == sorted(r.template_name for r in RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.kind)
@pytest.mark.parametrize("action", ["dryrun", "deny"])
def test_constraint_validates_against_the_generated_schema(rule: Any, action: str) -> None:
    template = constraint_template(rule, {})
    for tier in TIERS:
        c = constraint(rule, tier, action, SETTINGS, {})
        jsonschema.validate(c, constraint_schema(template))
        assert c["spec"]["enforcementAction"] == action
        assert c["spec"]["match"]["namespaces"] == [namespace_for(tier)]


def test_the_schemas_can_refuse() -> None:
    rule = RULES[0]
    template = constraint_template(rule, {})
    bad = copy.deepcopy(template)
    bad["spec"]["targets"][0]["code"][0]["engine"] = 7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, TEMPLATE_SCHEMA)
    c = constraint(rule, "canary", "deny", SETTINGS, {})
    c["spec"]["match"]["namespace"] = ["codex-canary"]  # misspelt
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(c, constraint_schema(template))


def test_parameters_come_from_the_settings() -> None:
    by_policy = {r.policy: r for r in RULES}
    images = constraint(by_policy["k8s-image-pinned"], "production", "deny", SETTINGS, {})
    assert images["spec"]["parameters"] == {"allowedRegistries": ["ghcr.io/codex-dominion"]}
    licence = constraint(by_policy["license-allowlist"], "production", "deny", SETTINGS, {})
    assert licence["spec"]["parameters"] == {
        "label": "codex.dev/license",
        "allowedLicenses": ["MIT"],
        "deniedLicenses": ["AGPL-3.0"],
    }


def test_config_defaults_are_the_packs() -> None:
    from policies.k8s import DEFAULT_REGISTRIES
    from policies.licensing import DEFAULT_ALLOWED_LICENSES, DEFAULT_DENIED_LICENSES

    config = AdmissionConfig()
    assert config.allowed_registries == DEFAULT_REGISTRIES
    assert config.allowed_licenses == DEFAULT_ALLOWED_LICENSES
    assert config.denied_licenses == DEFAULT_DENIED_LICENSES
