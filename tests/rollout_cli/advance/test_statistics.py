"""The Mann-Whitney comparison itself (scipy), on hand-made samples."""

from __future__ import annotations

from rollout_cli.advance.statistics import mann_whitney


def test_clearly_worse_candidate_is_significant() -> None:
    baseline = [0.001, 0.002, 0.0015, 0.001, 0.002, 0.0012, 0.0018, 0.0011]
    candidate = [0.011, 0.012, 0.009, 0.013, 0.010, 0.0125, 0.0108, 0.0119]
    p, cles = mann_whitney(candidate, baseline)
    assert p < 0.001
    assert cles == 1.0


def test_better_candidate_is_not_worse() -> None:
    baseline = [0.011, 0.012, 0.009, 0.013, 0.010, 0.0125]
    candidate = [0.001, 0.002, 0.0015, 0.001, 0.002, 0.0012]
    p, cles = mann_whitney(candidate, baseline)
    assert p > 0.9
    assert cles == 0.0


def test_all_ties_is_no_evidence() -> None:
    p, cles = mann_whitney([0.0] * 8, [0.0] * 8)
    assert p == 1.0 or p > 0.4
    assert cles == 0.5
