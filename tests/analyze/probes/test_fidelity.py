"""Probes against the seeds' own definitions, each with a known answer from planted weights, and the seed's equation
recomputed in this file from the raw Hugging Face weights (``GPT2LMHeadModel``), independent of TransformerLens
and of the code under test."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from analyze.__main__ import main
from analyze.probes import layer0, named_heads, ov, qk, semantic
from tests.analyze.planted_qk import D_HEAD
from train.head_scores import positional_metrics

SEMANTIC, PREDICTION = "planted.L0H0", "planted.L0H1"


class RawGPT2:
    """One-layer GPT-2 weights as Hugging Face stores them (Conv1D: x @ W)."""

    def __init__(self, path: Path):
        from transformers import GPT2LMHeadModel

        self.model = GPT2LMHeadModel.from_pretrained(str(path)).eval()
        cfg = self.model.config
        self.d, self.n_heads = cfg.n_embd, cfg.n_head
        self.dh = self.d // self.n_heads
        block = self.model.transformer.h[0]
        self.ln_1 = block.ln_1
        self.w, self.b = block.attn.c_attn.weight.detach().double(), block.attn.c_attn.bias.detach().double()
        self.w_e = self.model.transformer.wte.weight.detach().double()
        self.w_u = self.model.lm_head.weight.detach().double()  # [vocab, d]: W_U columns as rows

    def qkv(self, head: int, which: int):
        """W and b of Q (0), K (1) or V (2) for one head: [d, dh], [dh]."""
        cols = slice(which * self.d + head * self.dh, which * self.d + (head + 1) * self.dh)
        return self.w[:, cols], self.b[cols]

    def ln(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.ln_1(x.float()).double()


@pytest.fixture(scope="module")
def qk_run(planted_qk_dir, nltk_data, cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("fid")
    argv = ["probes", "--model", str(planted_qk_dir), "--out", str(out), "--prompts", "8", "--probes",
            "qk,prediction,semantic,patterns,layer0", "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
            "--no-progress", "repeat_prompts=8"]
    assert main(argv) == 0
    return out, pd.read_csv(out / "probes.csv").set_index("head_id")


# ---------------------------------------------------------------- 1. qk_neg_eigs

def dense_count(w_q: torch.Tensor, w_k: torch.Tensor) -> int:
    """The seed's count, computed densely: eigenvalues of the d_model × d_model W_sym, the d_head largest by
    magnitude, how many negative."""
    m = (w_q @ w_k.T).double().numpy()
    values = np.linalg.eigvalsh((m + m.T) / 2)
    top = values[np.argsort(-np.abs(values))[: w_q.shape[1]]]
    return int((top < -1e-9 * np.abs(values).max()).sum())


def test_qk_neg_eigs_separates_the_planted_semantic_head(qk_run, planted_qk_dir, categories):
    _, scores = qk_run
    raw = RawGPT2(planted_qk_dir)
    for head in range(4):
        w_q, w_k = raw.qkv(head, 0)[0], raw.qkv(head, 1)[0]
        assert scores.loc[f"planted.L0H{head}", "qk_neg_eigs"] == dense_count(w_q, w_k)
    assert (scores.qk_n_eigs == D_HEAD).all()
    # planted 2PP^T - I on the words: one negative eigenvalue per word among the dominant ones
    assert scores.loc[SEMANTIC, "qk_neg_eigs"] == len(categories.words) > 0.6 * D_HEAD
    assert scores.loc["planted.L0H2", "qk_neg_eigs"] == 0  # pos · 4 pos: positive definite


def test_qk_neg_eigs_of_generic_heads_vary_around_half():
    rng = np.random.default_rng(0)
    counts = [qk.dominant_symmetric_eigenvalues(*(torch.tensor(rng.standard_normal((256, 64))) for _ in range(2)))
              for _ in range(12)]
    negatives = [int((c < 0).sum()) for c in counts]
    assert len(set(negatives)) > 1  # not constant by construction (the full spectrum always gives 64 of 128)
    assert all(26 <= n <= 38 for n in negatives) and abs(np.mean(negatives) - 32) < 2


# ---------------------------------------------------------------- 2. prediction-attention

def literal_prediction(raw: RawGPT2, head: int, bags, normalised: bool = False) -> float:
    """McDougall & Conmy Eq. 2 from the raw weights: keys ln_1(W_E,s) W_K + b_K; queries W_U,t W_Q + b_Q (literal) or
    ln_1(W_U,t) W_Q + b_Q with 1/√d_head (normalised)."""
    (w_q, b_q), (w_k, b_k) = raw.qkv(head, 0), raw.qkv(head, 1)
    values = []
    for bag in bags:
        idx = torch.as_tensor(bag)
        keys = raw.ln(raw.w_e[idx]) @ w_k + b_k
        u = raw.w_u[idx]
        queries = (raw.ln(u) if normalised else u) @ w_q + b_q
        scores = queries @ keys.T / (raw.dh ** 0.5 if normalised else 1.0)
        values.append(torch.softmax(scores, dim=-1).diagonal().mean().item())
    return float(np.mean(values))


def bags_used(nltk_data, cache_dir):
    """The bags the probe drew: 32 held-out windows of 64 tokens after GPT-2's BOS, 16 distinct tokens each."""
    from analyze.core.prompts import analysis_prompts
    from analyze.probes.prediction import brown_bags

    prompts = analysis_prompts(32, 64, 9992, 0.2, nltk_data, cache_dir, None, 50256).tokens
    return brown_bags(prompts, 16, (50256,))


def test_prediction_attention_is_eq2_from_the_raw_weights(qk_run, planted_qk_dir, nltk_data, cache_dir):
    _, scores = qk_run
    raw, bags = RawGPT2(planted_qk_dir), bags_used(nltk_data, cache_dir)
    for head in range(4):
        hid = f"planted.L0H{head}"
        assert scores.loc[hid, "prediction_attention"] == pytest.approx(literal_prediction(raw, head, bags), abs=1e-5)
        assert scores.loc[hid, "prediction_attention_normalised"] == pytest.approx(
            literal_prediction(raw, head, bags, normalised=True), abs=1e-5)
    assert scores.loc[PREDICTION, "prediction_attention"] > 0.99  # the planted negative-copy head
    chance = 1 / 16
    assert (scores.drop(PREDICTION).prediction_attention - chance).abs().max() < 0.5 * chance


def test_prediction_attention_by_hand():
    from analyze.probes.prediction import prediction_attention

    keys = torch.eye(4)
    assert prediction_attention(keys, 100 * torch.eye(4), [np.arange(4)]) == pytest.approx(1.0)
    assert prediction_attention(keys, torch.zeros(4, 4), [np.arange(4)]) == pytest.approx(0.25)
    # no 1/√d_head in Eq. 2: a unit score gap is e/(e + 3) = 0.475, not e^0.5/(e^0.5 + 3)
    assert prediction_attention(keys, torch.eye(4), [np.arange(4)]) == pytest.approx(np.e / (np.e + 3))


# ---------------------------------------------------------------- 3. token clusters

def planted_token_map(sizes, gain, seed=0):
    """Token map of a semantic head over tokens in categories of ``sizes``: gain · (2PP^T - I) on orthonormal
    prototype and own directions, so each token scores its category mates high and itself low."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    n, c = len(labels), len(sizes)
    basis, _ = np.linalg.qr(rng.standard_normal((n + c + 8, n + c)))
    protos, own = basis[:, :c], basis[:, c:]
    e = protos[:, labels].T + own.T  # [n, dims]
    form = gain * (protos @ protos.T - own @ own.T)
    return e @ form @ e.T, labels


@pytest.mark.parametrize("sizes, gain", [([10] * 8, 1.0), ([10] * 8, 4.0), ([10] * 8, 16.0), ([4] * 12, 4.0)])
def test_token_clusters_recover_categories_however_peaked(sizes, gain):
    token_map, labels = planted_token_map(sizes, gain)
    assert adjusted_rand_score(labels, named_heads.token_clusters(token_map, seed=0)) == 1.0


def test_knn_token_clusters_fail_on_categories_smaller_than_k():
    token_map, labels = planted_token_map([4] * 12, 4.0)
    assert adjusted_rand_score(labels, named_heads.token_clusters_knn(token_map, 10, seed=0)) < 0.9


# ---------------------------------------------------------------- 4. ties

def test_a_head_that_writes_nothing_wins_no_tally():
    antonym_of = np.array([3, 4, 5, 0, 1, 2])
    assert ov.tally_scores(np.zeros((6, 6)), antonym_of) == {"antonym_tally": 0.0, "copying_score": 0.0,
                                                            "category_tally": 0.0}
    m = np.zeros((6, 6))
    m[np.arange(6), antonym_of] = 1.0  # strict antonym winners
    m[0, 1] = 1.0  # row 0: a tie with another word is no win
    got = ov.tally_scores(m, antonym_of)
    assert got["antonym_tally"] == pytest.approx(5 / 6) and got["copying_score"] == 0.0
    m[np.arange(6), np.arange(6)] = 0.5  # word and antonym now the top two, strictly, except row 0
    assert ov.tally_scores(m, antonym_of)["category_tally"] == pytest.approx(5 / 6)


# ---------------------------------------------------------------- 5. layer-0 classes

def test_planted_layer0_heads_of_each_class(qk_run, planted_dir, nltk_data, cache_dir, tmp_path):
    """Gibson's layer-0 post's table on planted heads: previous-token positional (detokenization), exponentially decaying
    positional (contextual), token identity (duplicate_token), and zero QK (flat)."""
    out = tmp_path / "l0"
    assert main(["probes", "--model", str(planted_dir), "--out", str(out), "--probes", "patterns,layer0",
                 "--prompts", "8", "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress",
                 "repeat_prompts=8"]) == 0
    classes = pd.read_csv(out / "probes.csv").set_index("head_id").layer0_class
    assert classes["planted.L0H1"] == "detokenization"
    assert classes["planted.L0H3"] == "contextual"
    assert classes["planted.L0H2"] == "duplicate_token"
    assert qk_run[1].loc["planted.L0H3", "layer0_class"] == "flat"  # the QK model's zero-QK head


@pytest.mark.parametrize("seed", range(5))
def test_near_uniform_heads_are_flat_whatever_the_sign_of_their_noise(seed):
    n = 16
    rng = np.random.default_rng(seed)
    scores = np.where(np.tril(np.ones((n, n), dtype=bool)), 0.05 * rng.standard_normal((n, n)), -np.inf)
    pattern = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    metrics = positional_metrics(pattern)
    assert layer0.classify_layer0(metrics, duplicate_score=0.0) == "flat"


# ---------------------------------------------------------------- 6. steering

def test_default_steering_rebuilds_the_map_from_w_sym_alone():
    rng = np.random.default_rng(2)
    w_q, w_k = (torch.tensor(rng.standard_normal((24, 6))) for _ in range(2))
    m = (w_q @ w_k.T).numpy()
    sym = (m + m.T) / 2
    np.testing.assert_allclose(qk.steered_bilinear(w_q, w_k, 1.0), sym, atol=1e-10)  # seed: V Λ V^T = W_sym
    np.testing.assert_allclose(qk.steered_bilinear(w_q, w_k, 1.0, "sym+skew"), m, atol=1e-10)
    values, vectors = np.linalg.eigh(sym)
    expected = (vectors * np.where(values < 0, 0.0, values)) @ vectors.T
    np.testing.assert_allclose(qk.steered_bilinear(w_q, w_k, 0.0), expected, atol=1e-10)


# ---------------------------------------------------------------- 7. semantic score and BOS

def test_queries_without_a_category_partner_attend_to_bos():
    """The L1H5 semantic-head post rule 3: '<bos> blue cat blue' — the first 'blue' and 'cat' have no earlier category mate, so their
    target is <bos>; the second 'blue' has none either (copies of itself do not count)."""
    tokens = np.array([[0, 10, 20, 10, 11]])  # bos, blue, cat, blue, red
    labels = np.array([[-1, 0, 1, 0, 0]])  # colours 0, animals 1
    mask = semantic.semantic_mask(tokens, labels)[0].astype(int)
    assert mask.tolist() == [[0, 0, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 1, 0, 1, 0]]
    no_bos = semantic.semantic_mask(tokens[:, 1:], labels[:, 1:])[0].astype(int)
    assert no_bos.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]]


# ---------------------------------------------------------------- 9. BOS conventions

def test_each_model_family_gets_its_bos_and_it_is_recorded(qk_run, micro_fleet, nltk_data, cache_dir, tmp_path):
    import json

    record = json.loads((qk_run[0] / "probes.json").read_text())["models"]["planted"]["bos"]
    assert record["id"] == 50256 and record["token"] == "<|endoftext|>"
    out = tmp_path / "toy"
    assert main(["probes", "--model", str(micro_fleet[0] / "model_00"), "--out", str(out), "--probes", "patterns",
                 "--prompts", "4", "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress",
                 "repeat_prompts=4"]) == 0
    toy = json.loads((out / "probes.json").read_text())["models"]["m00"]["bos"]
    assert toy["id"] is None and "without BOS" in toy["rule"]


# ---------------------------------------------------------------- OV eigenvalues read through the norm gain

def test_ov_eigenvalues_fold_the_input_norm_gain(planted_qk_dir, nltk_data, cache_dir, tmp_path):
    """The eigen family diagonalises the map the OV tally reads, diag(g) W_V W_O (g: ln_1's gain), computed here
    densely (d_model × d_model) from the raw weights of a copy whose gain has random signs and scales."""
    import shutil

    from transformers import GPT2LMHeadModel

    copy = tmp_path / "gained"
    shutil.copytree(planted_qk_dir, copy)
    model = GPT2LMHeadModel.from_pretrained(str(copy))
    gain = torch.tensor(np.random.default_rng(0).uniform(-2, 2, model.config.n_embd), dtype=torch.float32)
    with torch.no_grad():
        model.transformer.h[0].ln_1.weight.copy_(gain)
    model.save_pretrained(str(copy))
    out = tmp_path / "out"
    assert main(["probes", "--model", str(copy), "--out", str(out), "--probes", "eigen", "--nltk-data",
                 str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"]) == 0
    scores = pd.read_csv(out / "probes.csv").set_index("head_id")
    raw = RawGPT2(copy)
    w_o_all = raw.model.transformer.h[0].attn.c_proj.weight.detach().double()  # [d (heads' outputs), d]
    for head in range(raw.n_heads):
        w_v, _ = raw.qkv(head, 2)
        w_o = w_o_all[head * raw.dh:(head + 1) * raw.dh]
        dense = np.linalg.eigvals((gain.double()[:, None] * w_v @ w_o).numpy())
        dense = dense[np.argsort(-np.abs(dense))][: raw.dh]  # the rank-d_head map's non-zero eigenvalues
        top = dense[0]
        share = np.abs(dense[dense.real < 0]).sum() / max(np.abs(dense).sum(), 1e-30)  # a zero head: 0
        assert scores.loc[f"gained.L0H{head}", "ov_top_eig_real"] == pytest.approx(top.real, rel=1e-6, abs=1e-9)
        assert scores.loc[f"gained.L0H{head}", "ov_neg_eig_share"] == pytest.approx(share, rel=1e-6, abs=1e-9)
