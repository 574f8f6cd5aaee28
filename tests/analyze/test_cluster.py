import numpy as np
from sklearn.metrics import adjusted_rand_score

from analyze.cluster import cluster_heads, f_score
from analyze.embed import flatten_heads
from analyze.stability import shuffle_across_heads


def planted_heads(n_models=9, n_protos=8, n_prompts=32, noise=0.6, seed=0):
    """Heads of 9 'models', each a noisy copy of one of 8 prototype attention patterns, in shuffled order."""
    rng = np.random.default_rng(seed)
    causal = np.tril(np.ones((16, 16), dtype=bool))
    protos = rng.normal(0, 2.0, (n_protos, n_prompts, 16, 16))
    heads, truth, models = [], [], []
    for m in range(n_models):
        for p in rng.permutation(n_protos):
            scores = np.where(causal, protos[p] + rng.normal(0, noise, protos[p].shape), -np.inf)
            heads.append(np.exp(scores - scores.max(-1, keepdims=True)))
            heads[-1] /= heads[-1].sum(-1, keepdims=True)
            truth.append(p)
            models.append(m)
    return np.stack(heads), np.array(truth), np.array(models)


def test_f_score_definition():
    models = np.array([0, 0, 1, 1, 2, 2])
    perfect = np.array([0, 1, 0, 1, 0, 1])  # one head of every model in every cluster
    assert f_score(perfect, models) == {"precision": 1.0, "recall": 1.0, "f_score": 1.0}
    by_model = np.array([0, 0, 1, 1, 2, 2])  # each cluster = both heads of one model
    assert f_score(by_model, models)["precision"] == 0.5 and f_score(by_model, models)["recall"] == 1 / 3


def test_clustering_recovers_planted_heads_and_not_shuffled_ones():
    patterns, truth, models = planted_heads()
    vectors = flatten_heads(patterns)
    sweep, gamma, clusters, _ = cluster_heads(vectors, models, k=9, n_gammas=200, gamma_range=(0.01, 3), seed=0)
    assert max(r["f_score"] for r in sweep) >= 0.9
    assert adjusted_rand_score(truth, clusters) >= 0.9

    shuffled = shuffle_across_heads(patterns.reshape(len(patterns), patterns.shape[1], -1), np.random.default_rng(1))
    sweep, _, clusters, _ = cluster_heads(shuffled.reshape(len(patterns), -1), models, 9, 200, (0.01, 3), 0)
    assert max(r["f_score"] for r in sweep) < 0.75
    assert adjusted_rand_score(truth, clusters) < 0.2


def test_sweep_is_reproducible():
    patterns, _, models = planted_heads(n_models=3, n_protos=4, n_prompts=8)
    a = cluster_heads(flatten_heads(patterns), models, 3, 30, (0.01, 3), seed=5)
    b = cluster_heads(flatten_heads(patterns), models, 3, 30, (0.01, 3), seed=5)
    assert a[0] == b[0] and np.array_equal(a[2], b[2])
