"""Hook helpers on a ``TransformerBridge``: run only as far as needed, ablate one head's output."""

from __future__ import annotations

import torch


class _StopForward(Exception):
    """Raised by a hook once everything needed has been captured, to skip the rest of the forward pass."""


def model_device(bridge) -> torch.device:
    return next(bridge.parameters()).device


@torch.no_grad()
def run_until(bridge, tokens: torch.Tensor, capture: list[str], fwd_hooks=()) -> dict[str, torch.Tensor]:
    """Run ``bridge`` with ``fwd_hooks`` until every hook point in ``capture`` has fired; return their values.

    The forward pass is cut after the last of them (TransformerBridge ignores ``stop_at_layer`` on native
    models), so e.g. attention patterns never pay for the unembedding.
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


def mean_head_outputs(bridge, tokens: torch.Tensor) -> dict[int, torch.Tensor]:
    """Per layer, the mean of ``hook_z`` over prompts.  → {layer: [pos, head, d_head]}"""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(bridge.cfg.n_layers)]
    cache = run_until(bridge, tokens, names)
    return {layer: cache[name].mean(dim=0) for layer, name in enumerate(names)}


def ablate_each_copy(ablations: list[tuple[int, torch.Tensor | None]], rows: int):
    """A ``hook_z`` hook for a batch of ``len(ablations)`` copies of ``rows`` sequences: copy k has head
    ``ablations[k][0]`` replaced by ``ablations[k][1]`` ([pos, d_head], its mean output) or by 0 when that is None.
    One forward pass then ablates several heads (or one head several ways), each in its own rows."""

    def hook(z, hook):  # z: [len(ablations) * rows, pos, head, d_head]
        z = z.clone()  # never edit a tensor the model may still hold
        for k, (head, value) in enumerate(ablations):
            z[k * rows:(k + 1) * rows, :, head] = 0.0 if value is None else value[: z.shape[1]]
        return z

    return hook


@torch.no_grad()
def logits_at(bridge, tokens: torch.Tensor, position: int, fwd_hooks=()) -> torch.Tensor:
    """Next-token logits at one position, unembedding only that position.  → [batch, vocab]

    The models are causal, so the tokens after ``position`` change nothing there: they are not run at all."""
    position = position % tokens.shape[1]
    last = f"blocks.{bridge.cfg.n_layers - 1}.hook_resid_post"
    resid = run_until(bridge, tokens[:, :position + 1], [last], fwd_hooks)[last]  # [batch, position + 1, d_model]
    return bridge.unembed(bridge.ln_final(resid[:, position:position + 1]))[:, 0].float()


def knockout_logits(bridge, tokens: torch.Tensor, layer: int, ablations: list[tuple[int, torch.Tensor | None]],
                    position: int) -> torch.Tensor:
    """Logits at ``position`` with each of ``ablations`` (head, mean output or None for zero) applied to layer
    ``layer`` in a copy of ``tokens`` of its own, all in one pass.  → [len(ablations), batch, vocab]"""
    copies = tokens.repeat(len(ablations), 1)
    hook = (f"blocks.{layer}.attn.hook_z", ablate_each_copy(ablations, tokens.shape[0]))
    return logits_at(bridge, copies, position, [hook]).view(len(ablations), tokens.shape[0], -1)
