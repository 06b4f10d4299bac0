"""The `rollout` command line: the offline runner and its mocks, render and diff, the policy
host and its report formats, and the operator commands.

Tooling around the Pulumi program, never imported by it: its libraries (typer, rich,
jsonschema, grpc) are the `cli` extra, not dependencies of `pulumi up`.
"""
