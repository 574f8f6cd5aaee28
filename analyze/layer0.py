"""Layer-0 heads by their positional pattern (seed 004, "Decomposition of first layer attention patterns").

The exponentiated attention score of layer-0 head splits into a part that depends only on the key's
position and a part that depends only on its token. The *positional pattern* is the softmax of the
position-only part: the pattern the head shows when every token of the sequence is the same. We compute
it exactly that way, on sequences repeating one destination token, averaged over a few common tokens.

Classes (seed 004's table), tried in this order:
- ``duplicate_token``: attends to earlier copies of the current token (duplicate score ≥ 0.4).
- ``detokenization``: positional pattern concentrated on the last few tokens (≥ 50% of the mass on
  offsets 1–3, effective number of positions ≤ 4) and translation invariant (offset profile overlap ≥ 0.7).
- ``contextual``: spread over many positions (effective number ≥ 4) and not increasing with distance
  (Spearman correlation of weight with offset ≤ 0): the decaying bag-of-tokens average.
- ``other``.
"""

from __future__ import annotations

import numpy as np
import torch

DESTINATION_WORDS = (" the", " of", " and", ".", " said")


@torch.no_grad()
def positional_patterns(bridge, destination_ids: list[int], length: int) -> np.ndarray:
    """Layer-0 patterns on sequences repeating one token, averaged over tokens.  → [head, query, key]"""
    from analyze.extract import run_until

    tokens = torch.tensor([[t] * length for t in destination_ids], device=next(bridge.parameters()).device)
    name = "blocks.0.attn.hook_pattern"
    pattern = run_until(bridge, tokens, [name])[name].float()  # [token, head, query, key]
    return pattern.mean(dim=0).cpu().numpy()


def effective_positions(row: np.ndarray) -> float:
    """exp(entropy) of one attention row: 1 for one position, n for uniform over n."""
    p = row[row > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def offset_profile(pattern: np.ndarray, query: int, max_offset: int) -> np.ndarray:
    """Attention from ``query`` to keys ``query - o`` for o = 0..max_offset (zero before position 0)."""
    return np.array([pattern[query, query - o] if query - o >= 0 else 0.0 for o in range(max_offset + 1)])


def positional_metrics(pattern: np.ndarray) -> dict[str, float]:
    """Spread, recent-token mass, translation invariance and decay of one head's positional pattern [q, k]."""
    from scipy.stats import spearmanr

    n = pattern.shape[0]
    last = pattern[n - 1, :n]
    queries = range(max(3, n // 2), n)
    profiles = np.stack([offset_profile(pattern, q, 3) for q in queries])  # [query, offset 0..3]
    overlap = np.minimum(profiles, profiles[-1]).sum(axis=1).mean() / max(profiles[-1].sum(), 1e-12)
    weights, offsets = last[::-1], np.arange(n)  # weight at offset o = last[n - 1 - o]
    decay = spearmanr(offsets, weights).statistic if np.ptp(weights) > 1e-9 else 0.0
    return {"pos_spread": effective_positions(last), "pos_recent_mass": float(profiles[:, 1:].sum(axis=1).mean()),
            "pos_translation_invariance": float(min(overlap, 1.0)), "pos_decay": float(decay)}


def classify_layer0(metrics: dict[str, float], duplicate_score: float) -> str:
    """The rule in the module docstring."""
    if duplicate_score >= 0.4:
        return "duplicate_token"
    if (metrics["pos_recent_mass"] >= 0.5 and metrics["pos_spread"] <= 4
            and metrics["pos_translation_invariance"] >= 0.7):
        return "detokenization"
    if metrics["pos_spread"] >= 4 and metrics["pos_decay"] <= 0:
        return "contextual"
    return "other"
