"""`rollout drill`: a rollback drill on one machine, no cloud.

Real Prometheus and Alertmanager servers (Debian packages) get the rules and configuration that
`rollout render` produces for the stack and week, a moto server stands in for ELBv2, SSM,
DynamoDB, SNS and SQS, and small stand-in workloads export the metric contract. The drill
injects one fault into one tier and times every hand-off up to the traffic move, which the
rollback function's own handler makes (delivered the way Lambda would, from an SQS
subscription of the rollback topic).

- `processes`: servers started on loopback ports, stopped by PID;
- `workload`: the stand-in services and their faults;
- `configs`: the rendered configuration with local endpoints and credentials;
- `aws`: the rollback path's AWS resources in moto;
- `run`: the drill itself and its timeline; `cli`: the command.
"""
