"""Weighted routing: the ALB whose HTTPS listener splits traffic between the tiers."""
