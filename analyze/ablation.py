"""Mean-ablation of each head on the antonym task (seed 000, "Ablation study").

The word pairs become ``<bos> a1 b1\n a2 b2\n ...``; the loss counts only the second word of each pair
(every third token, offset by one). Sequences longer than the model's context are cut into chunks of
whole pairs, each starting with BOS when the model uses one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from analyze.knockout import ablation_hook

NEWLINE_ID = 198  # GPT-2's "\n"


def antonym_chunks(first_ids, second_ids, n_ctx: int, bos_id: int | None) -> list[torch.Tensor]:
    """Token sequences of whole ``a b \\n`` triples, each at most ``n_ctx`` long.  → list of [pos]"""
    start = [] if bos_id is None else [bos_id]
    per_chunk = (n_ctx - len(start)) // 3
    if per_chunk < 1:
        raise ValueError(f"context of {n_ctx} tokens cannot hold one 'a b\\n' triple for the ablation probe")
    triples = [[a, b, NEWLINE_ID] for a, b in zip(first_ids, second_ids)]
    return [torch.tensor(start + [t for tr in triples[i:i + per_chunk] for t in tr])
            for i in range(0, len(triples), per_chunk)]


def second_word_loss(logits: torch.Tensor, tokens: torch.Tensor, offset: int) -> torch.Tensor:
    """Mean cross-entropy of predicting each pair's second word.  logits [batch, pos, vocab], tokens [batch, pos]."""
    targets = torch.arange(offset + 1, tokens.shape[1], 3)  # positions of b_k
    return F.cross_entropy(logits[:, targets - 1].flatten(0, 1).float(), tokens[:, targets].flatten())


@torch.no_grad()
def antonym_loss(bridge, chunks: list[torch.Tensor], offset: int, fwd_hooks=()) -> float:
    """Second-word loss over all chunks (weighted by how many second words each holds)."""
    total, count = 0.0, 0
    device = next(bridge.parameters()).device
    for length in sorted({len(c) for c in chunks}):
        batch = torch.stack([c for c in chunks if len(c) == length]).to(device)
        logits = bridge.run_with_hooks(batch, fwd_hooks=list(fwd_hooks))
        n = batch.shape[0] * len(range(offset + 1, length, 3))
        total += second_word_loss(logits, batch, offset).item() * n
        count += n
    return total / count


@torch.no_grad()
def mean_ablation_deltas(bridge, chunks, offset: int, mean_z: dict[int, torch.Tensor]) -> np.ndarray:
    """Loss change when each head is replaced by its mean output.  → [layer, head]"""
    base = antonym_loss(bridge, chunks, offset)
    cfg = bridge.cfg
    out = np.zeros((cfg.n_layers, cfg.n_heads))
    for layer in range(cfg.n_layers):
        for head in range(cfg.n_heads):
            hook = (f"blocks.{layer}.attn.hook_z", ablation_hook(head, mean_z[layer]))
            out[layer, head] = antonym_loss(bridge, chunks, offset, [hook]) - base
    return out
