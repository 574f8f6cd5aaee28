"""The placement p-value against its definition, counted over every possible group of toy heads."""

from itertools import combinations

import numpy as np
import pytest

from analyze.compare.placement import permutation_p_values


def exact_p(x, toy, members):
    """Share of all groups of len(members) toy heads whose centroid is at least as close to x as the cluster's."""
    observed = np.linalg.norm(x - toy[members].mean(axis=0))
    groups = list(combinations(range(len(toy)), len(members)))
    return np.mean([np.linalg.norm(x - toy[list(g)].mean(axis=0)) <= observed + 1e-12 for g in groups])


def test_p_values_match_the_share_of_all_random_groups():
    rng = np.random.default_rng(0)
    toy = rng.standard_normal((9, 5))
    clusters = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    queries = np.stack([toy[:3].mean(axis=0) + 0.05, rng.standard_normal(5), toy[3:6].mean(axis=0) * 0.3,
                        rng.standard_normal(5) * 3])
    landed = np.array([0, 1, 1, 2])
    p = permutation_p_values(queries, toy, clusters, landed, 20_000, np.random.default_rng(1))
    for q, c, got in zip(queries, landed, p):
        assert got == pytest.approx(exact_p(q, toy, np.flatnonzero(clusters == c)), abs=0.012)
    assert p[0] < 0.05  # sitting on its cluster's centroid: only that group (and none other) is as close
