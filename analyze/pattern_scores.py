"""Attention-pattern scores: previous-token, duplicate-token, induction, self, first-token.

They match TransformerLens's ``head_detector`` with ``error_measure="mul"`` (no BOS or current-token
exclusion): the share of a head's attention that falls on the positions the detection pattern marks,
``sum(pattern * detection) / sum(pattern)``, averaged over prompts. Computed here on whole batches at once
instead of one prompt at a time. Layout: patterns [head, prompt, query, key], tokens [prompt, pos].
"""

from __future__ import annotations

import numpy as np


def previous_token_mask(tokens: np.ndarray) -> np.ndarray:
    """[prompt, pos] → [prompt, query, key]: key = query - 1."""
    n = tokens.shape[1]
    return np.broadcast_to(np.eye(n, k=-1, dtype=bool), (len(tokens), n, n))


def duplicate_token_mask(tokens: np.ndarray) -> np.ndarray:
    """Earlier positions holding the same token as the query."""
    same = tokens[:, :, None] == tokens[:, None, :]
    return same & np.tril(np.ones(same.shape[1:], dtype=bool), k=-1)


def induction_mask(tokens: np.ndarray) -> np.ndarray:
    """Positions right after an earlier copy of the query token (duplicate mask shifted one key right)."""
    dup = duplicate_token_mask(tokens)
    out = np.zeros_like(dup)
    out[:, :, 1:] = dup[:, :, :-1]
    return out


def self_mask(tokens: np.ndarray) -> np.ndarray:
    n = tokens.shape[1]
    return np.broadcast_to(np.eye(n, dtype=bool), (len(tokens), n, n))


def first_token_mask(tokens: np.ndarray) -> np.ndarray:
    """Key 0 from every query but the first."""
    n = tokens.shape[1]
    mask = np.zeros((n, n), dtype=bool)
    mask[1:, 0] = True
    return np.broadcast_to(mask, (len(tokens), n, n))


MASKS = {"prev_token": previous_token_mask, "duplicate_token": duplicate_token_mask, "induction": induction_mask,
         "self": self_mask, "first_token": first_token_mask}


def detection_score(patterns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[head, prompt, q, k] and [prompt, q, k] → [head]: mean over prompts of the attention share on the mask."""
    per_prompt = (patterns * mask[None]).sum(axis=(2, 3)) / patterns.sum(axis=(2, 3))  # [head, prompt]
    return per_prompt.mean(axis=1)


def repeated_random_tokens(n_prompts: int, length: int, seed: int, low: int = 1_000, high: int = 20_000) -> np.ndarray:
    """Random tokens of half the length, repeated once: the standard induction / duplicate test input."""
    half = np.random.default_rng(seed).integers(low, high, (n_prompts, length // 2))
    out = np.concatenate([half, half], axis=1)
    return out if out.shape[1] == length else np.concatenate([out, half[:, :1]], axis=1)
