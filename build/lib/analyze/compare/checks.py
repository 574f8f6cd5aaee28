"""Known-answer checks beside the calibrated placement, each one able to fail (docs/toy_vs_pretrained.md states what
failure looks like before it reports the outcome):

- ``offset_score``: the share of attention a head puts ``offset`` tokens back (previous token: 1; induction on a
  sequence repeated after ``half`` tokens: half − 1), on sink-removed or raw patterns;
- ``repeated_shared_tokens``: random token sequences, repeated once, drawn from token strings both tokenizers
  hold as single tokens, so a fleet and a pretrained model read the same text (the standard induction input);
- ``negative_copying``: McDougall & Conmy's copy suppression read from the OV circuit through the unembedding:
  how far below its row the attended token's own logit sits;
- ``name_mover_attention``: on prompts in the style of indirect-object identification, the attention a head puts
  on the name the model is about to predict, against a uniform head's, first position excluded.
"""

from __future__ import annotations

import numpy as np
import torch


def offset_score(patterns: np.ndarray, offset: int, first_query: int | None = None) -> np.ndarray:
    """Mean attention from query q to key q − offset, over queries ≥ ``first_query`` (default ``offset``) and
    prompts.  [head, prompt, q, k] → [head]"""
    n = patterns.shape[-1]
    start = offset if first_query is None else first_query
    q = np.arange(start, n)
    return patterns[:, :, q, q - offset].mean(axis=(1, 2))


def shared_single_tokens(ours, theirs, candidate_ids) -> tuple[np.ndarray, np.ndarray]:
    """Of ``candidate_ids`` (in our tokenizer), those whose string is one token of the other tokenizer too.
    → (our ids, their ids), aligned"""
    mine, other = [], []
    for i in dict.fromkeys(int(t) for t in candidate_ids):
        text = ours.decode([i])
        ids = theirs(text, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and theirs.decode(ids) == text:
            mine.append(i)
            other.append(ids[0])
    return np.array(mine), np.array(other)


def repeated_shared_tokens(our_pool: np.ndarray, their_pool: np.ndarray, n_prompts: int, half: int, seed: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``half`` random tokens repeated once, the same strings on both sides.  → ([prompt, 2 half] ×2)"""
    pick = np.random.default_rng(seed).integers(0, len(our_pool), (n_prompts, half))
    ours, theirs = our_pool[pick], their_pool[pick]
    return np.concatenate([ours, ours], axis=1), np.concatenate([theirs, theirs], axis=1)


@torch.no_grad()
def negative_copying(bridge, token_ids, layers=None) -> np.ndarray:
    """Each head's copy-suppression score: for every token t of ``token_ids``, the head's OV output when it
    attends to t (t's effective embedding through the layer's norm, W_V W_O, the final norm, W_U) gives logits over
    the same tokens; the score is t's own logit as a z-score within its row, averaged over t. Negative: the head
    lowers the logit of the token it attends to (McDougall & Conmy's negative name movers); positive: it copies.
    → [layer, head] (NaN outside ``layers``)"""
    from analyze.core.embeddings import TokenEmbeddings, head_weights
    from analyze.probes.ov import ov_token_map

    cfg = bridge.cfg
    out = np.full((cfg.n_layers, cfg.n_heads), np.nan)
    embeddings = TokenEmbeddings(bridge, token_ids)
    for layer in range(cfg.n_layers) if layers is None else layers:
        head_input = embeddings.head_input(layer, "auto")
        for head in range(cfg.n_heads):
            logits = ov_token_map(bridge, head_weights(bridge, layer, head), head_input, token_ids)  # [t, t]
            z = (np.diag(logits) - logits.mean(axis=1)) / np.maximum(logits.std(axis=1), 1e-12)
            out[layer, head] = z.mean()
    return out


IOI_TEMPLATES = ("When{a} and{b} went to the store,{b} gave a drink to",
                 "After{a} and{b} met at the park,{b} handed a letter to",
                 "Then{a} and{b} had a long talk, and{b} passed the book to")


def ioi_prompts(tokenizer, names: list[str], n_prompts: int, seed: int, bos_id: int | None = None
                ) -> tuple[list[np.ndarray], list[int], list[int]]:
    """Prompts whose next token is the first-named person (the indirect object) and where that name already stands
    in context, after the model's BOS when it uses one. Names are kept only when " Name" is one token.
    → (token ids, position of the IO name, its id)"""
    single = [n for n in names if len(tokenizer(" " + n, add_special_tokens=False)["input_ids"]) == 1]
    rng = np.random.default_rng(seed)
    prompts, positions, targets = [], [], []
    for i in range(n_prompts):
        a, b = rng.choice(single, 2, replace=False)
        text = IOI_TEMPLATES[i % len(IOI_TEMPLATES)].format(a=" " + a, b=" " + b)
        ids = ([] if bos_id is None else [bos_id]) + tokenizer(text, add_special_tokens=False)["input_ids"]
        target = tokenizer(" " + a, add_special_tokens=False)["input_ids"][0]
        prompts.append(np.array(ids))
        positions.append(ids.index(target))
        targets.append(target)
    return prompts, positions, targets


@torch.no_grad()
def name_mover_attention(bridge, prompts, positions, targets) -> tuple[np.ndarray, float]:
    """Attention of every head from the last position to the indirect-object name, first position excluded and
    the rest renormalised, divided by a uniform head's share (1 / visible positions); and the model's mean
    probability of that name.  → ([layer, head] ratio, mean probability)"""
    from analyze.core.hooks import model_device

    cfg = bridge.cfg
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(cfg.n_layers)]
    ratio = np.zeros((cfg.n_layers, cfg.n_heads))
    probability = 0.0
    for ids, pos, target in zip(prompts, positions, targets):
        tokens = torch.as_tensor(ids, device=model_device(bridge))[None]
        logits, cache = bridge.run_with_cache(tokens, names_filter=lambda n: n in names)
        probability += float(logits[0, -1].float().softmax(-1)[target])
        for layer, name in enumerate(names):
            row = cache[name][0, :, -1, 1:].float()  # [head, keys 1..]: the first position excluded
            share = row[:, pos - 1] / row.sum(dim=-1).clamp_min(1e-12)
            ratio[layer] += (share * (len(ids) - 1)).cpu().numpy()
    return ratio / len(prompts), probability / len(prompts)
