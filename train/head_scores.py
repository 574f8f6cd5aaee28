"""Attention-pattern scores, pure arrays: what a head's pattern says about where it looks.

Shared by the probes (``analyze.probes.patterns`` and ``layer0``) and by the recorder that watches heads form while
a fleet trains (``train.formation``), so a score recorded at a training step and the probe run on that step's
checkpoint are one formula. Layout: patterns [head, prompt, query, key], tokens [prompt, pos].

The mass scores match TransformerLens's ``head_detector`` with ``error_measure="mul"``: the share of a head's
attention on the positions a detection mask marks, averaged over prompts. ``positional_metrics`` reads the
positional pattern of a layer-0 head (Gibson's layer-0 post, "Decomposition of first layer attention patterns").
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


def repeated_random_tokens(n_prompts: int, length: int, seed: int, pool: np.ndarray,
                           bos_id: int | None = None) -> np.ndarray:
    """Random tokens from ``pool`` for half the length, repeated once: the standard induction / duplicate test
    input (after a BOS when given, so the whole prompt is ``length`` long)."""
    body = length - (bos_id is not None)
    half = np.asarray(pool)[np.random.default_rng(seed).integers(0, len(pool), (n_prompts, body // 2))]
    out = np.concatenate([half, half], axis=1)
    out = out if out.shape[1] == body else np.concatenate([out, half[:, :1]], axis=1)
    return out if bos_id is None else np.concatenate([np.full((n_prompts, 1), bos_id), out], axis=1)




def ordinary_tokens(frequent: np.ndarray, tokenizer, n: int = 20_000) -> np.ndarray:
    """Token ids to draw random prompts from: the ``n`` most frequent tokens of Brown's training text under this
    tokenizer, minus special tokens. Ids outside that (special, unused, never-trained) are left out."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return np.array([t for t in frequent[:n] if int(t) not in special])



DESTINATION_WORDS = (" the", " of", " and", ".", " said")  # the tokens a positional pattern is read on


def destination_ids(tokenizer) -> list[int]:
    """The first token of each destination word (all single tokens for GPT-2)."""
    return [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in DESTINATION_WORDS]


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
            "pos_translation_invariance": float(min(overlap, 1.0)), "pos_decay": float(decay),
            "pos_nonuniformity": float(0.5 * np.abs(last - 1.0 / n).sum())}


