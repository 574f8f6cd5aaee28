"""Head knockout (seed 003 §2.1.8–2.1.9): what a head promotes and suppresses in the next-token logits.

A head is knocked out at ``hook_z`` (its per-position output before W_O): zero ablation sets it to 0, mean
ablation to its mean over the knockout prompts at that position. Tokens whose logit rises when the head is
removed are ones the head suppresses; tokens whose logit falls are ones it promotes.
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.extract import run_until


def mean_head_outputs(bridge, tokens: torch.Tensor) -> dict[int, torch.Tensor]:
    """Per layer, the mean of ``hook_z`` over prompts.  → {layer: [pos, head, d_head]}"""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(bridge.cfg.n_layers)]
    cache = run_until(bridge, tokens, names)
    return {layer: cache[name].mean(dim=0) for layer, name in enumerate(names)}


def ablation_hook(head: int, mean_z: torch.Tensor | None = None):
    """A ``hook_z`` hook that replaces one head's output by 0 (``mean_z`` None) or by ``mean_z[:, head]``."""

    def hook(z, hook):  # z: [batch, pos, head, d_head]
        z = z.clone()  # never edit a tensor the model may still hold
        z[:, :, head] = 0.0 if mean_z is None else mean_z[: z.shape[1], head]
        return z

    return hook


@torch.no_grad()
def logits_at(bridge, tokens: torch.Tensor, position: int, fwd_hooks=()) -> torch.Tensor:
    """Next-token logits at one position, unembedding only that position.  → [batch, vocab]"""
    last = f"blocks.{bridge.cfg.n_layers - 1}.hook_resid_post"
    resid = run_until(bridge, tokens, [last], fwd_hooks)[last]  # [batch, pos, d_model]
    return bridge.unembed(bridge.ln_final(resid[:, position:position + 1]))[:, 0].float()


def knockout_logits(bridge, tokens: torch.Tensor, layer: int, head: int, position: int,
                    mean_z: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Logits at ``position`` with head (layer, head) ablated; mean ablation when ``mean_z`` is given."""
    hook = ablation_hook(head, None if mean_z is None else mean_z[layer])
    return logits_at(bridge, tokens, position, [(f"blocks.{layer}.attn.hook_z", hook)])


def top_changed_tokens(original: np.ndarray, ablated: np.ndarray, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Token ids most suppressed (logit rises when ablated) and most promoted (logit falls).  [vocab] → ([n], [n])"""
    delta = ablated - original
    return np.argsort(-delta)[:n], np.argsort(delta)[:n]


def probability_difference(original_logits: torch.Tensor, ablated_logits: torch.Tensor) -> torch.Tensor:
    """softmax(ablated) - softmax(original), the paper's §2.1.9 vector.  [batch, vocab] → [batch, vocab]"""
    return ablated_logits.softmax(-1) - original_logits.softmax(-1)
