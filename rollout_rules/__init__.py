"""The rollout's rules, in the standard library only.

Tiers, allocations and the week plan; the rollback allocation rule and budget; the ledger
schema; and the contract constants (environment variables, tag keys, SSM paths, name prefixes)
that the program, the rollback function, the policy pack and the tooling share. Everything
else imports from here; this package imports nothing outside the standard library, so the
rollback function can ship it in its archive.
"""
