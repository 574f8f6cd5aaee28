"""Naming the fleet's clusters by what their heads do (analyze/compare/placement.py)."""

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
