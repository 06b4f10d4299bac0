"""Admission policies: OPA Gatekeeper, its ConstraintTemplates (Rego from policies/rego) and a
Constraint per template and tier, in dryrun until the week before the tier takes traffic."""
