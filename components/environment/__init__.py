"""One environment tier: namespace, workloads, autoscaling, disruption budget, network policy."""
