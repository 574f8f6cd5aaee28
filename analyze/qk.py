"""QK-side probes (seed 001, GPT-2 L1H5 "semantic head"; seed 002, prediction-attention).

Token-token QK map of a head over a token set: ``A = E W_Q W_K^T E^T / sqrt(d_head)``, with E the tokens'
embedding after the LayerNorm the head reads (raw W_E for layer-0 heads, the effective embedding W_EE after;
query/key biases left out, as the seed does). Its symmetric part (A + A^T)/2 carries self-attention (the
skew part is zero on the diagonal); negative eigenvalues of the symmetric part of W_Q W_K^T let a head
suppress attention to itself while attending to similar tokens.
"""

from __future__ import annotations

import numpy as np
import torch


def head_input(bridge, layer: int, raw: torch.Tensor, effective: torch.Tensor, embedding: str = "auto") -> torch.Tensor:
    """What block ``layer``'s heads read for each token: raw W_E rows for layer 0 (or ``embedding="raw"``), the
    effective embedding W_EE otherwise, through the block's ln1.  [n, d_model] → [n, d_model]"""
    use_raw = embedding == "raw" or (embedding == "auto" and layer == 0)
    with torch.no_grad():
        return bridge.blocks[layer].ln1((raw if use_raw else effective)[None])[0].float()


def qk_token_map(e: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor) -> np.ndarray:
    """A[i, j] = e_i W_Q W_K^T e_j / sqrt(d_head): the score query token i gives key token j.  → [n, n]"""
    with torch.no_grad():
        return ((e @ w_q) @ (e @ w_k).T / w_q.shape[-1] ** 0.5).double().cpu().numpy()


def symmetric_skew(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = sym + skew exactly; skew has a zero diagonal."""
    return (a + a.T) / 2, (a - a.T) / 2


def symmetric_spectrum(w_q: torch.Tensor, w_k: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors (in d_model space) of the symmetric part of W_Q W_K^T.

    The symmetric part lives in span(W_Q, W_K) (rank ≤ 2 d_head), so it is diagonalised there.
    Returns ``(eigenvalues [r], eigenvectors [d_model, r])`` for its non-zero eigenvalues.
    """
    q, k = w_q.detach().double().cpu().numpy(), w_k.detach().double().cpu().numpy()
    basis, s, _ = np.linalg.svd(np.concatenate([q, k], axis=1), full_matrices=False)
    basis = basis[:, s > max(s.max(), 1e-300) * 1e-9]  # [d_model, r]; r = 0 for a head with zero W_Q, W_K
    qb, kb = basis.T @ q, basis.T @ k
    sym = (qb @ kb.T + kb @ qb.T) / 2  # [r, r]
    values, vectors = np.linalg.eigh(sym)
    keep = np.abs(values) > np.abs(values).max(initial=0.0) * 1e-9
    return values[keep], basis @ vectors[:, keep]


def steered_bilinear(w_q: torch.Tensor, w_k: torch.Tensor, alpha: float) -> np.ndarray:
    """W_Q W_K^T with the negative eigenvalues of its symmetric part scaled by ``alpha`` (seed 001 steering).

    alpha = 1 returns W_Q W_K^T exactly; the skew part is kept unchanged.  → [d_model, d_model]
    """
    m = (w_q.detach().double() @ w_k.detach().double().T).cpu().numpy()
    values, vectors = symmetric_spectrum(w_q, w_k)
    scaled = np.where(values < 0, alpha * values, values)
    _, skew = symmetric_skew(m)
    return (vectors * scaled) @ vectors.T + skew


def qk_scores(queries: torch.Tensor, keys: torch.Tensor, eigenvalues: np.ndarray) -> dict[str, float]:
    """Norms of the token QK map A = queries keys^T / sqrt(d_head) and of its symmetric / skew parts.

    queries = E W_Q, keys = E W_K: [n, d_head]. A has rank ≤ d_head, so with Q R = [queries keys] (n × 2 d_head)
    every part is Q C Q^T for a small core C, whose Frobenius norm and singular values are those of the part:
    exact, and O(n d_head²) instead of an O(n³) SVD of the n × n map.

    qk_sym_norm_ratio = ||sym(A)||_F / ||A||_F; qk_neg_eigs = negative eigenvalues of the symmetric part of
    W_Q W_K^T, qk_n_eigs = its non-zero ones (≤ 2 d_head); top singular values of both parts of A.
    """
    u, v = queries.detach().double().cpu().numpy(), keys.detach().double().cpu().numpy()
    d = u.shape[1]
    _, r = np.linalg.qr(np.concatenate([u, v], axis=1) / d ** 0.25)  # r: [2d, 2d]
    zero, eye = np.zeros((d, d)), np.eye(d)
    a_core = r @ np.block([[zero, eye], [zero, zero]]) @ r.T  # A = Q a_core Q^T
    sym_core, skew_core = symmetric_skew(a_core)
    norm = lambda m, order: float(np.linalg.norm(m, order))  # noqa: E731
    return {"qk_sym_norm_ratio": norm(sym_core, "fro") / max(norm(a_core, "fro"), 1e-30),
            "qk_neg_eigs": int((eigenvalues < 0).sum()), "qk_n_eigs": int(len(eigenvalues)),
            "qk_sym_top_sv": norm(sym_core, 2), "qk_skew_top_sv": norm(skew_core, 2)}


def row_softmax(token_map: np.ndarray) -> np.ndarray:
    """Each query row of a token map as attention over the token set.  [n, n] → [n, n], rows sum to 1"""
    p = np.exp(token_map - token_map.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def self_and_category_attention(token_map: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Softmax each row of a token map over the token set: mean mass on the token itself and on the other
    tokens of its category."""
    p = row_softmax(token_map)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return float(np.diag(p).mean()), float((p * same).sum(axis=1).mean())


def bag_attention(keys: torch.Tensor, queries: torch.Tensor, bag: np.ndarray) -> np.ndarray:
    """softmax over keys s ∈ B of (k_s · q_t) / sqrt(d_head), for every query t ∈ B.  → [t, s]"""
    with torch.no_grad():
        logits = queries[bag] @ keys[bag].T / keys.shape[-1] ** 0.5  # [t, s]
        return logits.softmax(dim=-1).double().cpu().numpy()


def prediction_attention(keys: torch.Tensor, queries: torch.Tensor, bags: list[np.ndarray]) -> float:
    """Seed 002 Eq. 2: over bags B of distinct tokens, mean over t ∈ B of softmax_{s ∈ B}(k_s · q_t) at s = t.

    keys: [n, d_head] (W_EE_s after ln1, through W_K); queries: [n, d_head] (W_U column t through W_Q); bags
    index rows of both. A head that attends to the tokens it would predict scores 1; chance is 1/|B|.
    """
    return float(np.mean([np.diag(bag_attention(keys, queries, bag)).mean() for bag in bags]))


def brown_bags(prompts: np.ndarray, size: int) -> list[np.ndarray]:
    """Bags of ``size`` distinct tokens, one per Brown prompt that has that many (first occurrences, in order)."""
    bags = []
    for row in prompts:
        _, first = np.unique(row, return_index=True)
        if len(first) >= size:
            bags.append(row[np.sort(first)][:size])
    return bags
