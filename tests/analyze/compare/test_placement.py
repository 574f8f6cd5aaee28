"""Naming the fleet's clusters by what their heads do (analyze/compare/placement.py)."""

def test_clusters_are_named_against_a_uniform_head_not_by_raw_mass():
    """A uniform causal head puts more on itself (H_n/n) than on the previous token ((H_n - 1)/n): a cluster of
    uniform heads must be called diffuse, not self-attending; sharp heads are named for what they attend; a
    cluster of heads that park their attention on token 0 is a first-token cluster, not a diffuse one."""
    import numpy as np

    from analyze.compare.placement import describe_clusters

    n = 8
    causal = np.tril(np.ones((n, n)))
    uniform = causal / causal.sum(axis=1, keepdims=True)
    prev = np.eye(n, k=-1) * 0.9 + uniform * 0.1
    prev[0] = uniform[0]
    sink = np.zeros((n, n))
    sink[:, 0] = 1.0
    patterns = np.stack([uniform, uniform, prev, prev, sink])[:, None]  # [head, prompt, q, k]
    names = describe_clusters(patterns, np.array([0, 0, 1, 1, 2]))
    assert names == {0: "diffuse heads", 1: "previous-token heads", 2: "first-token heads"}
