"""A GPT-2-architecture model with planted QK circuits (the L1H5 semantic-head post semantic head, McDougall & Conmy prediction head).

Geometry (all directions orthogonal to the all-ones vector, so LayerNorm only rescales; MLPs and OV are zero):
- every token t has a random unit vector r_t in a "rest" subspace;
- a category word w of category c has in addition p_c + n_w: a unit prototype p_c shared by its category and a
  unit direction n_w of its own, all orthonormal. Its embedding norm is then sqrt(3).
Layer-0 heads:
- head 0, semantic: W_Q W_K^T = 2 P P^T - I on the word space, so for words i, j
  e_i W_Q W_K^T e_j ∝ [same category] - [i = j]: attends to the other words of its category, suppresses itself.
  Its symmetric part has one negative eigenvalue per word (86 of 128 for the shipped categories).
- head 1, prediction: W_Q = W_K = one orthonormal basis of part of the rest space, so a query read from
  W_U[:, t] (tied: the embedding of t) meets the key of token t most strongly.
- head 2: attends to its own position (positional QK only).
- head 3: zero QK, a uniform pattern.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analyze.compare.controls import save_one_layer_gpt2

D_MODEL, N_HEAD, N_CTX = 512, 4, 32
D_HEAD = D_MODEL // N_HEAD
ROLES = {"semantic": 0, "prediction": 1, "self": 2, "uniform": 3}


def build_qk_gpt2(out: Path, word_ids: list[int], labels: list[int], seed: int = 0) -> Path:
    """Save the planted model to ``out`` (config.json + weights) and return ``out``."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((D_MODEL, D_MODEL - 1))
    q, _ = np.linalg.qr(m - m.mean(axis=0))  # [d_model, d_model - 1], orthonormal, orthogonal to ones
    n_cat, n_words = max(labels) + 1, len(word_ids)
    assert n_cat + n_words <= D_HEAD, "the word space must fit in one head"
    protos = q[:, :n_cat]  # [d_model, categories]
    own = q[:, n_cat:n_cat + n_words]  # [d_model, words]
    pos = q[:, n_cat + n_words:n_cat + n_words + N_CTX]  # [d_model, positions]
    rest = q[:, n_cat + n_words + N_CTX:]  # [d_model, r]

    wte = rest @ rng.standard_normal((rest.shape[1], 50_257))  # [d_model, vocab]
    wte /= np.linalg.norm(wte, axis=0)
    for i, (token, label) in enumerate(zip(word_ids, labels)):
        wte[:, token] += protos[:, label] + own[:, i]

    def pad(a):  # [d_model, r] → [d_model, d_head]
        return np.concatenate([a, np.zeros((D_MODEL, D_HEAD - a.shape[1]))], axis=1)

    words = np.concatenate([protos, own], axis=1)  # [d_model, categories + words]
    signs = np.concatenate([np.ones(n_cat), -np.ones(n_words)])  # 2 P P^T - I = P P^T - N N^T on this basis
    gain_pred = 8.0
    w_q = [pad(words * signs), pad(gain_pred * rest[:, :D_HEAD]), pad(pos), np.zeros((D_MODEL, D_HEAD))]
    w_k = [pad(words), pad(gain_pred * rest[:, :D_HEAD]), pad(4.0 * pos), np.zeros((D_MODEL, D_HEAD))]

    c_attn = np.concatenate([np.concatenate(w_q, 1), np.concatenate(w_k, 1), np.zeros((D_MODEL, D_MODEL))], 1)
    return save_one_layer_gpt2(out, wte, 0.5 * pos, c_attn, np.zeros((D_MODEL, D_MODEL)), N_HEAD)
