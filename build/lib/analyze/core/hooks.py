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


def mean_head_outputs(bridge, tokens: torch.Tensor, rows_per_pass: int = 16) -> dict[int, torch.Tensor]:
    """Per layer, the mean of ``hook_z`` over prompts.  → {layer: [pos, head, d_head]}

    The prompts run ``rows_per_pass`` at a time, their sums kept in float64: on SmolLM2 (64 Brown prompts of 163
    tokens, 2 CPU cores) passes of 16 prompts ran the model at 134 GFLOP/s where one pass of all 64 ran at 109,
    its activations no longer spilling out of the caches."""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(bridge.cfg.n_layers)]
    sums: dict[int, torch.Tensor] = {}
    for start in range(0, tokens.shape[0], rows_per_pass):
        cache = run_until(bridge, tokens[start:start + rows_per_pass], names)
        for layer, name in enumerate(names):
            part = cache[name].double().sum(dim=0)
            sums[layer] = part if layer not in sums else sums[layer] + part
    dtype = cache[names[0]].dtype
    return {layer: (total / tokens.shape[0]).to(dtype) for layer, total in sums.items()}


def ablate_each_copy(ablations: list[tuple[int, torch.Tensor | None]], rows: int):
    """A ``hook_z`` hook for a batch of ``len(ablations)`` copies of ``rows`` sequences: copy k has head
    ``ablations[k][0]`` replaced by ``ablations[k][1]`` ([pos, d_head], its mean output) or by 0 when that is None.
    One forward pass then ablates several heads (or one head several ways), each in its own rows."""

    def hook(z, hook):  # z: [len(ablations) * rows, pos, head, d_head]
        return ablate_copies(z.clone(), ablations, rows)  # never edit a tensor the model may still hold

    return hook


def ablate_copies(z: torch.Tensor, ablations: list[tuple[int, torch.Tensor | None]], rows: int) -> torch.Tensor:
    """In place: rows k * rows ... (k + 1) * rows - 1 of ``z`` get head ``ablations[k][0]`` set to
    ``ablations[k][1]`` (its mean output, [pos, d_head]) or to 0 when that is None.  → z"""
    for k, (head, value) in enumerate(ablations):
        z[k * rows:(k + 1) * rows, :, head] = 0.0 if value is None else value[: z.shape[1]]
    return z


def unembed(bridge, resid: torch.Tensor) -> torch.Tensor:
    """The model's logits from its last residual stream: final norm, unembedding and the architecture's own
    transform of the logits (Gemma's soft cap), as the bridge's forward applies them.  [..., d_model] → [..., vocab]"""
    logits = bridge.unembed(bridge.ln_final(resid))
    adapter = getattr(bridge, "adapter", None)
    return logits if adapter is None else adapter.apply_output_logits_transform(logits)


def final_residual(bridge, tokens: torch.Tensor, fwd_hooks=()) -> torch.Tensor:
    """The residual stream after the last block, the unembedding not run.  → [batch, pos, d_model]"""
    last = f"blocks.{bridge.cfg.n_layers - 1}.hook_resid_post"
    return run_until(bridge, tokens, [last], fwd_hooks)[last]


def widen_and_ablate(ablations: list[tuple[int, torch.Tensor | None]], rows: int = 1):
    """A ``hook_z`` hook that turns a batch of ``rows`` sequences into ``len(ablations)`` copies of it, copy k with
    head ``ablations[k][0]`` replaced by ``ablations[k][1]`` ([pos, d_head]) or by 0 when that is None.

    The layers before the hooked one then run once, not once per copy, and the blocks after it run the copies
    as one batch. For a batch of one sequence the single residual stream broadcasts against the widened attention
    output, and so do its masks and rotary tables; a wider batch needs its residual stream copied as well
    (``copies_from_last_attention``). A batch of another size than ``rows`` is refused."""

    def hook(z, hook):  # z: [rows, pos, head, d_head] → [len(ablations) * rows, pos, head, d_head]
        if z.shape[0] != rows:
            raise ValueError(f"widen_and_ablate was made for a batch of {rows} sequence(s), got {z.shape[0]}")
        return ablate_copies(z.repeat(len(ablations), 1, 1, 1), ablations, rows)

    return hook


@torch.no_grad()
def logits_at(bridge, tokens: torch.Tensor, position: int, fwd_hooks=()) -> torch.Tensor:
    """Next-token logits at one position, unembedding only that position.  → [batch, vocab]

    The models are causal, so the tokens after ``position`` change nothing there: they are not run at all. The
    last block's MLP runs on ``position`` alone (``last_mlp_at_final_position``)."""
    position = position % tokens.shape[1]
    hooks = [*fwd_hooks, *last_mlp_at_final_position(bridge)]
    resid = final_residual(bridge, tokens[:, :position + 1], hooks)  # [batch, position + 1, d_model]
    return unembed(bridge, resid[:, position:position + 1])[:, 0].float()


def last_mlp_at_final_position(bridge) -> list:
    """A hook that feeds the last block's MLP only the final position, for a caller that reads nothing else.

    After the last attention nothing mixes positions: the MLP's [batch, 1, d_model] output broadcasts in the
    residual add, so the final position's row is exact and the other rows are left meaningless. On a 1-layer toy
    the MLP is most of the forward pass (d_mlp = 8 d_model): a phrenology knockout ran 3.5x faster. Empty where the
    block has no ``ln2`` (attention-only models)."""
    name = f"blocks.{bridge.cfg.n_layers - 1}.ln2.hook_in"
    return [(name, lambda resid, hook: resid[:, -1:])] if name in bridge.hook_dict else []


def knockout_logits(bridge, tokens: torch.Tensor, layer: int, ablations: list[tuple[int, torch.Tensor | None]],
                    position: int) -> torch.Tensor:
    """Logits at ``position`` with each of ``ablations`` (head, mean output or None for zero) applied to layer
    ``layer`` in a copy of ``tokens`` of its own, all in one pass.  → [len(ablations), batch, vocab]

    In the last layer the copies are made where they start to differ (``copies_from_last_attention``): the prompts
    run the embedding and that layer's attention once, not once per copy."""
    rows, copies = tokens.shape[0], len(ablations)
    hooks = copies_from_last_attention(bridge, layer, ablations, rows)
    if hooks is None:  # an earlier layer: the layers after it would get a batch their masks were not made for
        tokens = tokens.repeat(copies, 1)
        hooks = [(f"blocks.{layer}.attn.hook_z", ablate_each_copy(ablations, rows))]
    return logits_at(bridge, tokens, position, hooks).view(copies, rows, -1)


def copies_from_last_attention(bridge, layer: int, ablations: list[tuple[int, torch.Tensor | None]],
                               rows: int) -> list | None:
    """Hooks that widen a batch of ``rows`` sequences into ``len(ablations)`` copies inside the last layer, copy k
    with head ``ablations[k][0]`` replaced as in ``ablate_copies``; None where that layer is not the last or its
    attention has no input norm to hook.

    The residual stream is copied at the block's input, the attention's norm reads back the first copy (all
    copies are equal there), and the heads' outputs widen at ``hook_z``: every sum is the one a batch of copies
    would make, but the attention's projections and patterns run on ``rows`` sequences instead of all copies. A
    phrenology knockout makes 16 copies of 65 prompts: its attention was a third of the pass. After the last
    attention only position-wise layers run, so no mask or position table meets the wider batch."""
    norm_input = f"blocks.{layer}.ln1.hook_in"
    if layer != bridge.cfg.n_layers - 1 or norm_input not in bridge.hook_dict:
        return None
    copies = len(ablations)
    return [(f"blocks.{layer}.hook_resid_pre", lambda resid, hook: resid.repeat(copies, 1, 1)),
            (norm_input, lambda resid, hook: resid[:rows]),
            (f"blocks.{layer}.attn.hook_z", widen_and_ablate(ablations, rows))]
