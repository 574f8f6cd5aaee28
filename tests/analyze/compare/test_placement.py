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


def test_cluster_spread_is_the_quantile_of_member_distances_to_the_centroid():
    from analyze.compare.placement import cluster_spread

    toy = np.array([[1.0, 0], [-1, 0], [0, 2], [0, -2], [10, 10], [12, 10]])
    clusters = np.array([0, 0, 0, 0, 1, 1])
    spread = cluster_spread(toy, clusters, quantile=1.0)
    np.testing.assert_allclose(spread, [2.0, 1.0])  # centroid (0, 0): distances 1, 1, 2, 2; centroid (11, 10): 1, 1


def test_clusters_are_named_against_chance_not_by_raw_means():
    """A uniform causal head puts more on itself (H_n/n) than on the previous token ((H_n - 1)/n): a cluster of
    diffuse heads must not be called self-attending, and a mild previous-token cluster is named for it."""
    import pandas as pd

    from analyze.compare.placement import describe_clusters

    scores = pd.DataFrame({"head_id": ["a", "b", "c"], "self": [0.22, 0.21, 0.20], "prev_token": [0.15, 0.15, 0.60],
                           "first_token": [0.15, 0.16, 0.10]})
    chance = {"self": 0.211, "prev_token": 0.149, "first_token": 0.149}
    names = describe_clusters(scores, {"a": 0, "b": 0, "c": 1}, chance)
    assert names == {0: "diffuse heads", 1: "previous-token heads"}
    assert describe_clusters(scores, {"a": 0, "b": 0, "c": 1})[0] == "self-attending heads"  # raw means mislead
