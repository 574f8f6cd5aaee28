"""Attention-pattern extraction (Attention Phrenology §2.1.3) and the paper's three artificial heads (§2.1.5).

One array layout everywhere in ``analyze``: ``patterns[head, prompt, query, key]`` (float32), heads layer-major,
rows summing to 1 over ``key``, zero above the diagonal.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from analyze.core.hooks import model_device, run_until


@torch.no_grad()
def attention_patterns(bridge, tokens: np.ndarray, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Every head's attention pattern of one model.  tokens [prompt, pos] → [layer*head, prompt, pos, pos]"""
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(bridge.cfg.n_layers)]
    device = model_device(bridge)
    out = []
    batches = range(0, len(tokens), batch_size)
    for start in tqdm(batches, desc="patterns", disable=not progress, leave=False):
        batch = torch.as_tensor(tokens[start:start + batch_size], device=device)
        cache = run_until(bridge, batch, names)
        per_layer = [cache[name].float() for name in names]  # each [batch, head, query, key]
        out.append(torch.cat(per_layer, dim=1).cpu())  # [batch, layer*head, query, key]
    return torch.cat(out).transpose(0, 1).contiguous().numpy()  # [layer*head, prompt, query, key]


def artificial_patterns(n_prompts: int, n_ctx: int) -> np.ndarray:
    """The paper's reference heads, the same on every prompt.  → [3, prompt, query, key]

    ``art.self``: each token attends only to itself. ``art.uniform_prev``: to itself and all earlier tokens
    equally. ``art.self_prev``: half to itself, half to the previous token (all to itself at position 0).
    """
    eye = np.eye(n_ctx, dtype=np.float32)
    causal = np.tril(np.ones((n_ctx, n_ctx), dtype=np.float32))
    uniform = causal / causal.sum(axis=1, keepdims=True)
    prev = np.eye(n_ctx, k=-1, dtype=np.float32)
    self_prev = (eye + prev) / (eye + prev).sum(axis=1, keepdims=True)
    one = np.stack([eye, uniform, self_prev])  # [3, query, key]
    return np.repeat(one[:, None], n_prompts, axis=1)
