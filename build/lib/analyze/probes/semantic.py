"""Probe family ``semantic`` (the L1H5 semantic-head post): does a head attend to other tokens of the query's category?

Prompts are shuffles of words from a few categories (the L1H5 semantic-head post: "<bos> blue sad cat purple purple 24 ..."). The
mask follows the seed's three rules: a query attends to the earlier tokens of its category other than itself and
other copies of its own word; and a query with no such partner attends to <bos> (rule 3), when the prompt has
one. Score = mean over queries with a non-empty mask of -log(attention mass inside the mask): the KL divergence
from the ideal pattern that puts all its mass in the mask. Lower = more semantic; 0 is perfect.
``self_suppression`` compares category attention with self-attention, so it counts only the queries that have
category partners.
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.core.hooks import model_device, run_until
from analyze.core.patterns import attention_patterns
from analyze.probes.inputs import FamilyOutput, ProbeInputs
from analyze.probes.columns import LOWER, Column, ProbeFamily


def semantic_prompts(token_ids: np.ndarray, labels: np.ndarray, length: int, n_prompts: int, seed: int,
                     bos_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled prompts of words from ``max(2, length // 4)`` random categories, with replacement.

    → tokens [prompt, length], labels [prompt, length] (category per position, -1 for BOS)."""
    rng = np.random.default_rng(seed)
    body = length - (bos_id is not None)
    n_cat = min(len(np.unique(labels)), max(2, body // 4))
    tokens, cats = [], []
    for _ in range(n_prompts):
        chosen = rng.choice(np.unique(labels), n_cat, replace=False)
        pool = np.flatnonzero(np.isin(labels, chosen))
        pick = rng.choice(pool, body, replace=True)
        t, c = token_ids[pick], labels[pick]
        if bos_id is not None:
            t, c = np.concatenate([[bos_id], t]), np.concatenate([[-1], c])
        tokens.append(t)
        cats.append(c)
    return np.array(tokens), np.array(cats)


def category_mask(tokens: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[prompt, q, k]: earlier keys of the query's category, excluding the query position and its own word."""
    same_cat = (labels[:, :, None] == labels[:, None, :]) & (labels[:, :, None] >= 0)
    same_word = tokens[:, :, None] == tokens[:, None, :]
    causal = np.tril(np.ones(tokens.shape[1:] * 2, dtype=bool), k=-1)
    return same_cat & ~same_word & causal


def semantic_mask(tokens: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The category mask, with <bos> (label -1 at position 0) as the target of word queries that have no
    category partner (the L1H5 semantic-head post, rule 3).  → [prompt, q, k]"""
    mask = category_mask(tokens, labels)
    bos = labels[:, 0] < 0  # [prompt]
    alone = ~mask.any(axis=-1) & (labels >= 0) & bos[:, None]  # [prompt, q]
    alone[:, 0] = False
    mask[:, :, 0] |= alone
    return mask


def semantic_score(patterns: np.ndarray, mask: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """[head, prompt, q, k], [prompt, q, k] → [head]: mean -log(mass in mask) over queries with a mask."""
    mass = (patterns * mask[None]).sum(axis=-1)  # [head, prompt, q]
    has = mask.any(axis=-1)  # [prompt, q]
    return (-np.log(mass + eps))[:, has].mean(axis=1)


def self_suppression(patterns: np.ndarray, mask: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """(c - s) / (c + s) per query, averaged: c = mean attention per same-category key, s = attention to self.
    +1: self fully suppressed in favour of the category; -1: attends to itself only.  → [head]"""
    n = mask.shape[-1]
    self_att = np.diagonal(patterns, axis1=2, axis2=3)  # [head, prompt, q]
    cat = (patterns * mask[None]).sum(axis=-1) / np.maximum(mask.sum(axis=-1), 1)[None]
    has = mask.any(axis=-1)
    ratio = (cat - self_att) / (cat + self_att + eps)
    return ratio[:, has].mean(axis=1) if n else np.zeros(len(patterns))


def upstream_components(layer: int) -> list[tuple[str, str]]:
    """(name, hook point) of everything upstream of a head in ``layer``: embeddings, earlier attention and MLPs."""
    out = [("embed", "hook_embed"), ("pos_embed", "hook_pos_embed")]
    for l in range(layer):
        out += [(f"attn{l}", f"blocks.{l}.hook_attn_out"), (f"mlp{l}", f"blocks.{l}.hook_mlp_out")]
    return out


@torch.no_grad()
def upstream_ablation(bridge, layer: int, head: int, tokens: np.ndarray, mask: np.ndarray,
                      brown: np.ndarray) -> list[dict]:
    """Semantic score of one head with each upstream component replaced by its mean over Brown prompts."""
    device = model_device(bridge)
    hooks = [h for _, h in upstream_components(layer)]
    means = {k: v.mean(dim=0) for k, v in run_until(bridge, torch.as_tensor(brown, device=device), hooks).items()}
    name = f"blocks.{layer}.attn.hook_pattern"
    t = torch.as_tensor(tokens, device=device)

    def score(fwd_hooks=()) -> float:
        pattern = run_until(bridge, t, [name], fwd_hooks)[name][:, head].float().cpu().numpy()  # [p, q, k]
        return float(semantic_score(pattern[None], mask)[0])

    base = score()
    rows = [{"component": "none", "hook": "", "semantic_score": base, "delta": 0.0}]
    for component, hook in upstream_components(layer):
        mean = means[hook]
        replace = (hook, lambda x, hook, m=mean: m[: x.shape[1]].expand_as(x).clone())
        s = score([replace])
        rows.append({"component": component, "hook": hook, "semantic_score": s, "delta": s - base})
    return rows


def category_prompts(inputs: ProbeInputs) -> tuple[np.ndarray, np.ndarray]:
    """The shuffled category-word prompts, made once per model: ``(tokens, labels)`` [prompt, pos] each."""
    def make():
        cats = inputs.words.categories
        length = min(inputs.cfg.semantic_len, inputs.bridge.cfg.n_ctx)
        tokens, labels = semantic_prompts(np.array(cats.token_ids), np.array(cats.labels), length,
                                          inputs.cfg.semantic_prompts, inputs.cfg.seed, inputs.bos_id)
        return tokens, labels
    return inputs.cached("semantic_prompts", make)


def compute(inputs: ProbeInputs) -> FamilyOutput:
    tokens, labels = category_prompts(inputs)
    patterns = attention_patterns(inputs.bridge, tokens)
    return FamilyOutput({"semantic_score": semantic_score(patterns, semantic_mask(tokens, labels)).astype(float),
                         "self_suppression": self_suppression(patterns, category_mask(tokens, labels)).astype(float)})


FAMILY = ProbeFamily(
    name="semantic", source="the L1H5 semantic-head post",
    summary="attention to other words of the query's category on shuffled category-word prompts",
    columns=(
        Column("semantic_score", "mean over queries of −log(attention mass on earlier same-category keys, "
                                 "excluding copies of the query word): the L1H5 semantic-head post's KL to the ideal pattern; "
                                 "lower = more semantic", "≈ −log(share of same-category keys)",
               direction=LOWER),
        Column("self_suppression", "mean of (c − s)/(c + s): c mean attention per same-category key, s attention "
                                   "to itself; +1 self fully suppressed", "≈ 0 (uniform)",
               null=0.0),
    ),
    compute=compute, needs=("categories",),
)
