"""The rollback function: moves traffic off a failing tier in one listener update.

Runs as an AWS Lambda function (python3.12) and, unchanged, behind the operator commands
(`rollout rollback`, `rollout resume`).

Triggers:
- SNS records: CloudWatch alarm state changes (the tier comes from the alarm's TargetGroup
  dimension) and Alertmanager notifications in the JSON format of `alertmanager.py` (the tier
  comes from the alert's `tier` label).
- EventBridge events: GuardDuty findings of severity >= `GUARDDUTY_MIN_SEVERITY` (7) and AWS
  Config compliance changes to NON_COMPLIANT (they name no tier), and manual rollbacks from
  `rollout rollback`.

For a trigger it takes a lock (a conditional put in the audit table), skips the event if the
audit table already records it as applied, reads the listener's weights and the ledger, decides
(the precomputed allocation for the trigger, where a tier already at 0 stays at 0 and the failing
tier goes to 0), writes a pending audit record, moves traffic with one ModifyListener call, holds
the ledger, notifies people, marks the audit record applied and releases the lock (a conditional
delete: once done, the audit table holds only the audit records). OK/resolved states, unknown tiers
and malformed events change nothing and log one line. Configuration comes only from the
environment variables in `rollout_rules.contract.ENV_VARS`; AWS endpoints from the standard AWS
settings.

Modules:
- `handler`: the Lambda entry point (`handler`) and `process`, one event's triggers in order;
- `settings`: the environment variables, read and checked, as `Settings`;
- `events`: Lambda events read as triggers (`Trigger`) or events that change nothing (`Skip`);
- `decision`: where the weights go for one trigger (pure);
- `rollbacks`: applying a trigger and resuming, step by step (`Rollbacks`, `Outcome`);
- `store`: the AWS side: AWS clients, the lock, the listener, the ledger, audit records, SNS;
- `logs`: one JSON log line per call.

The archive holds this package and `rollout_rules` (the component's `function_archive`), so it
imports only the standard library, boto3/botocore (the Lambda runtime has them) and
`rollout_rules`, and its own modules relatively: the same code runs as
`components.rollback.function` in the repository and as a top-level package in the archive.
"""
