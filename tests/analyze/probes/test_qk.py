"""QK-side probes (the L1H5 semantic-head post semantic head, McDougall & Conmy prediction-attention) on a planted GPT-2-architecture model."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from analyze.__main__ import main
from analyze.probes import qk
from analyze.probes.words import WordListError, load_categories
from tests.analyze.planted_qk import D_HEAD
from train.tokenizer import load_gpt2_tokenizer

SEMANTIC, PREDICTION = "planted.L0H0", "planted.L0H1"
BAG_SIZE = 16


@pytest.fixture(scope="module")
def planted_dir(planted_qk_dir) -> Path:
    return planted_qk_dir


def run(planted_dir, out, nltk_data, cache_dir, *extra) -> int:
    return main(["probes", "--model", str(planted_dir), "--out", str(out), "--prompts", "8",
                 "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress", *extra])


@pytest.fixture(scope="module")
def planted_run(planted_dir, nltk_data, cache_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qk")
    code = run(planted_dir, out, nltk_data, cache_dir, "--probes", "semantic,qk,prediction", "--tokens", "categories",
               "--steer", SEMANTIC, "--alpha", "0,0.5,1,2", "--cluster-head", SEMANTIC, "--semantic-head", SEMANTIC,
               f"bag_size={BAG_SIZE}", "token_knn=6")
    assert code == 0
    return out


@pytest.fixture(scope="module")
def scores(planted_run) -> pd.DataFrame:
    return pd.read_csv(planted_run / "probes.csv").set_index("head_id")


def test_semantic_head_has_lowest_score_and_negative_eigenvalues(scores, categories):
    assert scores.semantic_score.idxmin() == SEMANTIC
    assert scores.loc[SEMANTIC, "semantic_score"] < 0.5 * scores.drop(SEMANTIC).semantic_score.min()
    assert scores.self_suppression.idxmax() == SEMANTIC and scores.loc[SEMANTIC, "self_suppression"] > 0.9
    # one negative eigenvalue per word direction of the planted 2 P P^T - I
    assert scores.loc[SEMANTIC, "qk_neg_eigs"] == len(categories.words) >= D_HEAD / 4
    assert scores.loc["planted.L0H2", "qk_neg_eigs"] == 0  # pos · 4 pos: positive definite


def test_prediction_head(scores):
    assert scores.loc[PREDICTION, "prediction_attention"] >= 0.9
    others = scores.drop(PREDICTION).prediction_attention
    assert (others - 1 / BAG_SIZE).abs().max() < 0.5 / BAG_SIZE


def test_token_clusters_match_planted_categories(planted_run, categories):
    clusters = pd.read_csv(planted_run / "token_clusters.csv")
    assert list(clusters.token_id) == list(categories.token_ids)
    assert adjusted_rand_score(categories.labels, clusters.cluster) >= 0.8


def test_steering_negative_eigenvalues_to_zero_raises_self_attention(planted_run):
    steer = pd.read_csv(planted_run / "steering.csv").set_index("alpha")
    assert list(steer.index) == [0.0, 0.5, 1.0, 2.0]
    assert steer.self_attention.is_monotonic_decreasing
    assert steer.loc[0.0, "self_attention"] > 5 * steer.loc[1.0, "self_attention"]
    assert steer.loc[1.0, "in_category_attention"] > 0.9  # unsteered: the category, not itself


def test_upstream_ablation_token_embedding_matters_position_does_not(planted_run):
    ablation = pd.read_csv(planted_run / "upstream_ablation.csv").set_index("component")
    assert ablation.loc["embed", "delta"] > 1.0
    assert abs(ablation.loc["pos_embed", "delta"]) < 0.2 * ablation.loc["embed", "delta"]


def test_report_shows_the_maps(planted_run):
    html = (planted_run / "report.html").read_text()
    for name in ("fig_qk_maps.png", "fig_steering.png", "fig_prediction_attention.png", "fig_upstream_ablation.png"):
        assert (planted_run / name).exists()
        assert f'data-file="{name}"' in html
    assert "Token clusters" in html


def test_symmetric_skew_decomposition_is_exact_and_steering_at_one_is_identity():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 40))
    sym, skew = qk.symmetric_skew(a)
    np.testing.assert_allclose(sym + skew, a, rtol=0, atol=1e-12)  # exact up to float rounding
    assert np.array_equal(sym, sym.T) and np.array_equal(skew, -skew.T) and not np.diag(skew).any()
    w_q, w_k = torch.randn(32, 8, dtype=torch.float64), torch.randn(32, 8, dtype=torch.float64)
    np.testing.assert_allclose(qk.steered_bilinear(w_q, w_k, 1.0, "sym+skew"), (w_q @ w_k.T).numpy(), atol=1e-10)
    values, _ = qk.symmetric_spectrum(w_q, w_k)
    assert len(values) == 16  # rank ≤ 2 d_head
    steered = qk.steered_bilinear(w_q, w_k, 0.0)
    assert np.linalg.eigvalsh((steered + steered.T) / 2).min() > -1e-9


@pytest.mark.parametrize("case, message", [
    ("multi_token_category", "fewer than 2 categories keep 2 single-token words"),
    ("token_set_too_large", "larger than the 50,257-token vocabulary"),
    ("steer_missing_head", "does not exist"),
    ("steer_other_model", "is not in"),
])
def test_bad_inputs(case, message, planted_dir, nltk_data, cache_dir, tmp_path, capsys):
    extra = ["--probes", "qk"]
    if case == "multi_token_category":
        (tmp_path / "c.yaml").write_text("colours: [red, blue]\nwords: [antidisestablishmentarianism, cat]\n")
        extra += ["--categories", str(tmp_path / "c.yaml")]
    elif case == "token_set_too_large":
        extra += ["qk_token_count=60000"]
    elif case == "steer_missing_head":
        extra += ["--steer", "planted.L3H0"]
    elif case == "steer_other_model":
        extra += ["--steer", "gpt2.L1H5"]
    out = tmp_path / "out"
    capsys.readouterr()
    code = run(planted_dir, out, nltk_data, cache_dir, *extra)
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (out / "probes.csv").exists()


def test_shipped_categories_are_valid(categories):
    assert len(categories.names) >= 8
    assert all(np.bincount(categories.labels) >= 8)
    with pytest.raises(WordListError):
        load_categories(Path("/nonexistent.yaml"), load_gpt2_tokenizer())


def test_factored_qk_scores_equal_the_dense_map():
    rng = np.random.default_rng(1)
    e, w_q, w_k = (torch.tensor(rng.standard_normal(s)) for s in ((300, 24), (24, 6), (24, 6)))
    dense = qk.qk_token_map(e, w_q, w_k)
    sym, skew = qk.symmetric_skew(dense)
    got = qk.qk_scores(e @ w_q, e @ w_k, np.array([1.0, -1.0]))
    assert got["qk_sym_norm_ratio"] == pytest.approx(np.linalg.norm(sym) / np.linalg.norm(dense), rel=1e-9)
    assert got["qk_sym_top_sv"] == pytest.approx(np.linalg.norm(sym, 2), rel=1e-9)
    assert got["qk_skew_top_sv"] == pytest.approx(np.linalg.norm(skew, 2), rel=1e-9)
    assert got["qk_neg_eigs"] == 1 and got["qk_n_eigs"] == 2


def test_rankings_read_each_scores_direction(planted_run, scores):
    """semantic_score is a KL (lower = more semantic): the probe page and compare's score context both name the
    planted semantic head, which has the lowest score, as the best head; for self_suppression (higher = more)
    it is the highest."""
    from analyze.compare.pipeline import score_context
    from analyze.core.page import read_page_data

    best = read_page_data(planted_run / "report.html")["best"]
    assert best["semantic_score"][0] == SEMANTIC and best["self_suppression"][0] == SEMANTIC
    frame = scores.reset_index()
    context = score_context(frame, frame.head(1), ["semantic_score", "self_suppression", "qk_embedding"])
    assert set(context.toy_best_head) == {SEMANTIC} and set(context.score) == {"semantic_score", "self_suppression"}
    row = context.set_index("score").loc["semantic_score"]
    assert row.direction == "lower" and row.toy_best_value == scores.semantic_score.min()
