# license-allowlist at admission: the workload's licence label names an allowed SPDX licence.
# Mirrors policies/licensing.py; Rego v1. The label key is a parameter (rollout_rules.contract).
package codexlicenselabel

rule := "license-allowlist"

key := input.parameters.label

value := object.get(input.review.object, ["metadata", "labels", key], null)

kind := input.review.object.kind

denied(v) if {
	some d in input.parameters.deniedLicenses
	v == d
}

# SPDX spells variants as AGPL-3.0-only / AGPL-3.0-or-later.
denied(v) if {
	some d in input.parameters.deniedLicenses
	startswith(v, concat("", [d, "-"]))
}

violation contains {"msg": sprintf("%s: %s has no %s label", [rule, kind, key]), "details": {"rule": rule}} if {
	not is_string(value)
}

violation contains {"msg": sprintf("%s: %s has no %s label", [rule, kind, key]), "details": {"rule": rule}} if {
	value == ""
}

violation contains {"msg": sprintf("%s: %s licence '%s' is denied", [rule, kind, value]), "details": {"rule": rule}} if {
	is_string(value)
	value != ""
	denied(value)
}

violation contains {"msg": msg, "details": {"rule": rule}} if {
	is_string(value)
	value != ""
	not denied(value)
	not value in input.parameters.allowedLicenses
	msg := sprintf("%s: %s licence '%s' is not in allowedLicenses", [rule, kind, value])
}
