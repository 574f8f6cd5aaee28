"""OV-circuit probes (seed 000 antonym heads; seed 001/002 effective embedding): what a head writes
when it attends to a word, read as logits over a word list, and the eigenvalues of its OV matrix.
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.extract import run_until


@torch.no_grad()
def raw_embedding(bridge, token_ids) -> torch.Tensor:
    """[n] → [n, d_model] rows of W_E."""
    return bridge.W_E[torch.as_tensor(token_ids)].float()


@torch.no_grad()
def effective_embedding(bridge, token_ids) -> torch.Tensor:
    """W_EE (seed 002): each token run alone through block 0, positional embedding zeroed.

    A one-token sequence makes layer-0 attention the identity (every head attends to the token itself);
    the residual stream after block 0 (embedding + attention + MLP0) is the token's effective embedding.
    """
    tokens = torch.as_tensor(token_ids, device=next(bridge.parameters()).device)[:, None]  # [n, 1]
    zero_pos = ("hook_pos_embed", lambda x, hook: torch.zeros_like(x))
    name = "blocks.0.hook_resid_post"
    return run_until(bridge, tokens, [name], [zero_pos])[name][:, 0].float()  # [n, d_model]


@torch.no_grad()
def ov_token_map(bridge, layer: int, head: int, embedding: torch.Tensor, token_ids) -> np.ndarray:
    """Logits over ``token_ids`` when the head attends to each of them (seed 000).  [n, d_model] → [n, n]

    embedding → the block's ln1 → W_V (+ b_V) → W_O → ln_final → W_U (+ b_U), then only the word columns.
    """
    ids = torch.as_tensor(token_ids, device=embedding.device)
    x = bridge.blocks[layer].ln1(embedding[None])[0]
    out = (x @ bridge.W_V[layer, head] + bridge.b_V[layer, head]) @ bridge.W_O[layer, head]  # [n, d_model]
    y = bridge.ln_final(out[None])[0]
    return (y @ bridge.W_U[:, ids] + bridge.b_U[ids]).float().cpu().numpy()


def tally_scores(token_map: np.ndarray, antonym_of: np.ndarray) -> dict[str, float]:
    """Row-wise tallies of a word→word logit map (seed 000).

    antonym_tally: top logit is the word's antonym (the double diagonal); copying_score: top logit is the
    word itself; category_tally: the top two are the word and its antonym, in either order (triple diagonal).
    """
    order = np.argsort(-token_map, axis=1)
    rows = np.arange(len(token_map))
    top2 = np.sort(order[:, :2], axis=1)
    pair = np.sort(np.stack([rows, antonym_of], axis=1), axis=1)
    return {"antonym_tally": float(np.mean(order[:, 0] == antonym_of)),
            "copying_score": float(np.mean(order[:, 0] == rows)),
            "category_tally": float(np.mean((top2 == pair).all(axis=1)))}


def ov_eigenvalues(w_v: torch.Tensor, w_o: torch.Tensor) -> np.ndarray:
    """Non-zero eigenvalues of W_OV = W_V W_O, from the d_head × d_head form W_O W_V.  → [d_head] complex"""
    return torch.linalg.eigvals((w_o @ w_v).detach().double()).cpu().numpy()


def eigen_scores(eigenvalues: np.ndarray) -> dict[str, float]:
    """ov_top_eig_real: real part of the largest-|λ| eigenvalue (negative for antonym heads, seed 000);
    ov_neg_eig_share: share of total |λ| on eigenvalues with negative real part."""
    mags = np.abs(eigenvalues)
    return {"ov_top_eig_real": float(eigenvalues[np.argmax(mags)].real),
            "ov_neg_eig_share": float(mags[eigenvalues.real < 0].sum() / max(mags.sum(), 1e-30))}
