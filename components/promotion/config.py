"""Config of the promotion gates `rollout advance` judges a week by (the `promotion` key).

Defaults are the rollout plan's phase success criteria and key-metric targets: error rate < 1 %
(target 0.1 %), p95 < 500 ms and under each service's SLO, code generation success > 95 %,
deployment success > 99 %, test coverage > 80 %, validation pipeline < 5 min. The program does
not read these; they live in the stack config so each stack's gates are reviewed like the rest
of it and validated with it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from components.model import ConfigModel


class ComparisonConfig(ConfigModel):
    """The statistical comparison of the newer tier against the one it takes traffic from."""

    interval: str = Field(
        default="10m",
        pattern=r"^[0-9]+[smh]$",
        description="Length of one sample interval (error ratio and p95 per interval).",
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level of the Mann-Whitney U test."
    )
    min_samples: int = Field(
        default=6, ge=3, description="Fewest intervals with traffic per tier to judge."
    )
    min_error_ratio_increase: float = Field(
        default=0.002,
        ge=0,
        lt=1,
        description="Smallest increase of the median error ratio (absolute) that counts.",
    )
    min_latency_increase: float = Field(
        default=0.10, ge=0, description="Smallest relative increase of the median p95 that counts."
    )


class PromotionConfig(ConfigModel):
    """Gates a week must pass before the stack advances to the next one."""

    max_error_ratio: float = Field(default=0.01, gt=0, lt=1, description="Error ratio limit.")
    target_error_ratio: float = Field(
        default=0.001, gt=0, lt=1, description="Error ratio target (reported, not gated)."
    )
    max_latency_p95_ms: int = Field(default=500, gt=0, description="p95 latency limit in ms.")
    min_codegen_success: float = Field(
        default=0.95, gt=0, le=1, description="Lowest code generation success ratio."
    )
    min_deployment_success: float = Field(
        default=0.99, gt=0, le=1, description="Lowest deployment success ratio."
    )
    min_test_coverage: float = Field(
        default=0.80, gt=0, le=1, description="Lowest test coverage ratio."
    )
    max_validation_pipeline_seconds: float = Field(
        default=300, gt=0, description="Longest average validation pipeline run, in seconds."
    )
    min_up_ratio: float = Field(
        default=0.99,
        gt=0,
        le=1,
        description="Lowest share of scrapes with `up == 1` per service in a tier.",
    )
    min_requests: int = Field(
        default=1000,
        ge=1,
        description="Fewest requests per service and tier in the window before a ratio is judged.",
    )
    comparison: ComparisonConfig = Field(default_factory=ComparisonConfig)

    @model_validator(mode="after")
    def _target_under_limit(self) -> PromotionConfig:
        if self.target_error_ratio > self.max_error_ratio:
            raise ValueError(
                f"targetErrorRatio: {self.target_error_ratio} is above "
                f"maxErrorRatio {self.max_error_ratio} (the target must be the stricter one)"
            )
        return self
