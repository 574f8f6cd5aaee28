"""Attention-pattern extraction (seed 003 §2.1.3) and the paper's three artificial heads (§2.1.5).

One array layout everywhere in ``analyze``: ``patterns[head, prompt, query, key]`` (float32), rows summing
to 1 over ``key``, zero above the diagonal. Head ids look like ``m03.L0H5`` (toy model 3, layer 0, head 5),
``gpt2.L1H5`` for a pretrained model, and ``art.self`` for an artificial head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

ARTIFICIAL_HEADS = ("art.self", "art.uniform_prev", "art.self_prev")


def head_id(model: str, layer: int, head: int) -> str:
    return f"{model}.L{layer}H{head}"


def parse_head_id(hid: str) -> tuple[str, int, int]:
    """``"m03.L0H5"`` → ``("m03", 0, 5)``."""
    model, _, rest = hid.rpartition(".")
    if not model or not rest.startswith("L") or "H" not in rest:
        raise ValueError(f"not a head id: {hid!r} (expected e.g. m03.L0H5)")
    layer, head = rest[1:].split("H")
    return model, int(layer), int(head)


@dataclass(frozen=True)
class Prompts:
    """The analysis prompts: token ids, their text, and the held-out Brown document each starts in."""

    tokens: np.ndarray  # [prompt, n_ctx] int64
    docs: np.ndarray  # [prompt] str


def analysis_prompts(n_prompts: int, n_ctx: int, seed: int, heldout_fraction: float, nltk_data=None,
                     cache_dir=None) -> Prompts:
    """``n_prompts`` windows of ``n_ctx`` tokens from the held-out documents (authors: 1024, seed 9992)."""
    from train.data import sample_windows, tokenize_brown, window_documents

    _, _, heldout = tokenize_brown(heldout_fraction, nltk_data, cache_dir)
    if n_prompts > heldout.n_sentences:
        raise ValueError(f"--prompts {n_prompts} is more than the {heldout.n_sentences} held-out sentences "
                         f"prompts can start at; ask for fewer")
    return Prompts(sample_windows(heldout, n_prompts, n_ctx, seed),
                   window_documents(heldout, n_prompts, n_ctx, seed))


class _StopForward(Exception):
    """Raised by a hook once everything needed has been captured, to skip the rest of the forward pass."""


@torch.no_grad()
def run_until(bridge, tokens: torch.Tensor, capture: list[str], fwd_hooks=()) -> dict[str, torch.Tensor]:
    """Run ``bridge`` with ``fwd_hooks`` until every hook point in ``capture`` has fired; return their values.

    The forward pass is cut after the last of them (TransformerBridge ignores ``stop_at_layer`` on native
    models), so e.g. attention patterns never pay for the 50,257-wide unembedding.
    """
    captured: dict[str, torch.Tensor] = {}

    def grab(name):  # keyed by the name asked for: hook.name may be the canonical name of an alias
        def hook(value, hook):
            captured[name] = value.detach().clone()
            if len(captured) == len(capture):
                raise _StopForward
            return value
        return hook

    try:
        bridge.run_with_hooks(tokens, fwd_hooks=[*fwd_hooks, *[(name, grab(name)) for name in capture]])
    except _StopForward:
        pass
    missing = set(capture) - set(captured)
    if missing:
        raise RuntimeError(f"hook points never fired: {sorted(missing)}")
    return captured


@torch.no_grad()
def attention_patterns(bridge, tokens: np.ndarray, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Every head's attention pattern of one model.  tokens [prompt, pos] → [layer*head, prompt, pos, pos]

    Heads are ordered layer-major (L0H0, L0H1, ..., L1H0, ...).
    """
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(bridge.cfg.n_layers)]
    device = next(bridge.parameters()).device
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
