import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analyze.phrenology.cluster import best_row, cluster_heads, f_score, knn_graph
from analyze.phrenology.distances import flatten_heads
from analyze.phrenology.stability import f_verdict, shuffle_across_heads


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


def test_one_cluster_scores_zero_as_the_authors_test_leiden():
    """R/autoencode.R: ``if(all(clust==1)) return(c(rep(0,5),clust))``; before, 0.222 for this input."""
    models = np.array([0, 0, 1, 1, 2, 2])
    assert f_score(np.zeros(6, dtype=int), models) == {"precision": 0.0, "recall": 0.0, "f_score": 0.0}


def test_weighted_knn_graph_carries_summed_distances_as_the_authors_get_knn():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    plain, weighted = knn_graph(points, 2), knn_graph(points, 2, weighted=True)
    assert plain.get_edgelist() == weighted.get_edgelist() == [(0, 1), (1, 2), (2, 3)]
    assert "weight" not in plain.es.attributes()
    # 0↔1 are each other's nearest (1 + 1), 2's nearest is 1 (2), 3's nearest is 2 (4)
    assert weighted.es["weight"] == [2.0, 2.0, 4.0]


def test_ties_between_resolutions_go_to_the_smallest_gamma():
    rows = [{"gamma": 0.5, "f_score": 0.8}, {"gamma": 0.2, "f_score": 0.8}, {"gamma": 0.9, "f_score": 0.7}]
    assert best_row(rows)["gamma"] == 0.2


def test_verdict_against_the_null():
    beats = f_verdict(0.9, np.array([0.5, 0.55, 0.6, 0.52] * 5))
    assert beats["beats_null"] and beats["p_value"] == pytest.approx(1 / 21) and beats["z"] > 5
    assert "beats the shuffled-heads null" in beats["statement"]
    loses = f_verdict(0.6, np.array([0.5, 0.7, 0.65, 0.55]))
    assert not loses["beats_null"] and loses["p_value"] == pytest.approx(3 / 5)
    assert "does not beat" in loses["statement"]


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


def test_sweep_and_null_over_two_processes_equal_one():
    """The Leiden sweep and the shuffled-heads null run over forked workers; every call is seeded, so two workers
    must give what one gives, row for row and membership for membership (and the planted heads are still found)."""
    from analyze.phrenology.stability import null_baseline

    patterns, truth, models = planted_heads()
    vectors = flatten_heads(patterns)
    one = cluster_heads(vectors, models, 9, 60, (0.01, 3), seed=3, workers=1)
    two = cluster_heads(vectors, models, 9, 60, (0.01, 3), seed=3, workers=2)
    assert one[0] == two[0] and one[1] == two[1] and np.array_equal(one[2], two[2])
    assert adjusted_rand_score(truth, two[2]) >= 0.9
    codes = patterns.reshape(len(patterns), patterns.shape[1], -1)
    null_one = null_baseline(codes, models, 9, 30, (0.01, 3), 4, seed=3, workers=1)
    null_two = null_baseline(codes, models, 9, 30, (0.01, 3), 4, seed=3, workers=2)
    assert pd.DataFrame(null_one).equals(pd.DataFrame(null_two))
    assert [r["replicate"] for r in null_two] == [0, 1, 2, 3]


def test_stability_tasks_in_one_pool_equal_the_three_tests_run_apart():
    """``stability_rows`` runs the Leiden-seed, bootstrap and null tasks in one pool, the long null sweeps first; its
    rows must be the rows of the three tests run one after another in one process, in their order."""
    from analyze.phrenology.config import PhrenologyConfig
    from analyze.phrenology.stability import (bootstrap_prompt_stability, leiden_seed_stability, null_baseline,
                                              stability_rows)

    patterns, truth, models = planted_heads(n_prompts=12)
    codes = patterns.reshape(len(patterns), patterns.shape[1], -1)
    cfg = PhrenologyConfig(stability_replicates=3, null_replicates=4, null_gammas=20, seed=2)
    reference = cluster_heads(codes.reshape(len(codes), -1), models, cfg.knn_k, 30, (0.01, 3), seed=2)[2]
    gamma = 0.9
    apart = leiden_seed_stability(knn_graph(codes.reshape(len(codes), -1), cfg.knn_k), gamma, reference, models,
                                  range(3, 6))
    apart += bootstrap_prompt_stability(codes, models, cfg.knn_k, gamma, reference, 3, seed=2)
    apart += null_baseline(codes, models, cfg.knn_k, 20, (cfg.gamma_min, cfg.gamma_max), 4, seed=2, workers=1)
    pooled = stability_rows(codes, models, reference, gamma, cfg, workers=2)
    assert pd.DataFrame(pooled).equals(pd.DataFrame(apart))
    assert [r["test"] for r in pooled] == ["leiden_seed"] * 3 + ["bootstrap_prompts"] * 3 + ["null_shuffled"] * 4
    assert all(r["ari"] == 1.0 for r in pooled[:3])  # the planted clusters do not depend on Leiden's seed


def test_parallel_map_hands_workers_items_a_pipe_cannot_carry():
    """Forked workers inherit the function and the items (only an index crosses the pipe): a lock, which pickle
    refuses, reaches them, and the results come back in order."""
    import threading

    from analyze.core.parallel import parallel_map

    items = [(i, threading.Lock()) for i in range(7)]
    assert parallel_map(lambda item: item[0] ** 2 + item[1].locked(), items, workers=2) == [i ** 2 for i in range(7)]
