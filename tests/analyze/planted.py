"""A GPT-2-architecture model with planted heads, saved as a local HF directory, so probe answers are known.

Geometry (every direction orthogonal to the all-ones vector, so LayerNorm only rescales):
- word pair k: a_k = c_k + d_k, b_k = c_k - d_k (c: shared category direction, d: opposition direction);
- positions: one orthonormal direction p_i each; every other token: a random vector in the remaining space.
MLPs are zero. Layer-0 heads, QK role / OV role:
- head 0: attends to itself             / antonym map  (d → -d, c → c/2): top eigenvalue negative
- head 1: attends to the previous token / copying map  (identity on the word space)
- head 2: attends to earlier copies     / category map (keeps c, drops d)
- head 3: decaying positional pattern   / writes nothing
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from analyze.compare.controls import save_one_layer_gpt2

D_MODEL, N_HEAD, N_CTX = 256, 4, 16
D_HEAD = D_MODEL // N_HEAD
ROLES = {"antonym": 0, "prev_token": 1, "copying": 1, "duplicate_token": 2, "category": 2, "contextual": 3}


def _basis(rng) -> np.ndarray:
    m = rng.standard_normal((D_MODEL, D_MODEL - 1))
    m -= m.mean(axis=0)  # columns orthogonal to the all-ones vector
    q, _ = np.linalg.qr(m)
    return q  # [d_model, d_model - 1] orthonormal


def build_planted_gpt2(out: Path, word_ids: list[int], n_pairs: int, seed: int = 0, n_positions: int = N_CTX) -> Path:
    """Save the planted model to ``out`` (config.json + weights) and return ``out``."""
    rng = np.random.default_rng(seed)
    q = _basis(rng)
    c, d = q[:, :n_pairs], q[:, n_pairs:2 * n_pairs]  # [d_model, pairs]
    pos = q[:, 2 * n_pairs:2 * n_pairs + n_positions]  # [d_model, positions]
    rest = q[:, 2 * n_pairs + n_positions:]
    words = np.concatenate([c, d], axis=1)  # word subspace basis [d_model, 2 * pairs]

    wte = rest @ rng.standard_normal((rest.shape[1], 50_257))
    wte *= np.sqrt(2) / np.linalg.norm(wte, axis=0)
    for k in range(n_pairs):
        wte[:, word_ids[k]] = c[:, k] + d[:, k]
        wte[:, word_ids[n_pairs + k]] = c[:, k] - d[:, k]

    def pad(m):  # [d_model, r] → [d_model, d_head]
        return np.concatenate([m, np.zeros((D_MODEL, D_HEAD - m.shape[1]))], axis=1)

    prev_q, prev_k = np.zeros_like(pos), np.zeros_like(pos)
    prev_q[:, 1:], prev_k[:, 1:] = pos[:, 1:], pos[:, :-1]  # query at i meets key at i - 1
    token_slice = rest[:, :D_HEAD - n_positions]  # same token ⇒ high score, through 48 dims of the token space
    offsets = np.arange(n_positions)[:, None] - np.arange(n_positions)[None, :]  # [query, key]: i - j
    w_q = [pad(pos),                                                  # head 0: itself
           pad(prev_q),                                               # head 1: previous token
           pad(np.concatenate([1.6 * token_slice, -pos], axis=1)),    # head 2: same token, not same position
           pad(pos @ (-0.004 * offsets))]                             # head 3: score falls with distance
    w_k = [pad(pos), pad(prev_k), pad(np.concatenate([token_slice, pos], axis=1)), pad(pos)]
    ovs = [-d @ d.T + 0.5 * c @ c.T,  # antonym: opposition flipped, category halved
           words @ words.T,           # copying
           c @ c.T,                   # category: the word and its antonym alike
           np.zeros((D_MODEL, D_MODEL))]
    basis = pad(words)  # values live in the word subspace: W_OV = W_V W_O = ov restricted to it
    w_v = [ov @ basis for ov in ovs]
    w_o = [basis.T for _ in ovs]

    c_attn = np.concatenate([3.0 * np.concatenate(w_q, 1), np.concatenate(w_k, 1), np.concatenate(w_v, 1)], 1)
    return save_one_layer_gpt2(out, wte, pos, c_attn, np.concatenate(w_o, 0), N_HEAD)  # QK gain 3: LN norms are 16
