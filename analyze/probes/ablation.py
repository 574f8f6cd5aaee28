"""Probe family ``ablation`` (antonym-heads post, "Ablation study"): mean-ablate each head on the antonym task.

The antonym-heads post: "<bos> true false\n hot cold\n tall short\n ... compute average loss over every third token offset by
one", so only the prediction of each pair's second word counts. Sequences longer than the model's context are
cut into chunks of whole pairs, each starting with BOS when the model uses one. A head's score is the loss
increase when its output (``hook_z``) is replaced by its mean over held-out Brown prompts.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from analyze.core.figures import plt, save_figure
from analyze.core.hooks import final_residual, mean_head_outputs, model_device, unembed, widen_and_ablate
from analyze.probes.inputs import FamilyOutput, NotApplicable, ProbeInputs
from analyze.probes.columns import Column, ProbeFamily, rank_heads


def newline_id(tokenizer) -> int:
    """The token that separates the pairs: the tokenizer's single token for "\n" (GPT-2: 198)."""
    ids = tokenizer("\n", add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise NotApplicable(f"the tokenizer spells a newline as {len(ids)} tokens; the ablation task needs one")
    return ids[0]


def antonym_chunks(first_ids, second_ids, n_ctx: int, bos_id: int | None, newline: int) -> list[torch.Tensor]:
    """Token sequences of whole ``a b \\n`` triples, each at most ``n_ctx`` long.  → list of [pos]"""
    start = [] if bos_id is None else [bos_id]
    per_chunk = (n_ctx - len(start)) // 3
    if per_chunk < 1:
        raise NotApplicable(f"a context of {n_ctx} tokens cannot hold one 'a b\\n' triple of the antonym task")
    triples = [[a, b, newline] for a, b in zip(first_ids, second_ids)]
    return [torch.tensor(start + [t for tr in triples[i:i + per_chunk] for t in tr])
            for i in range(0, len(triples), per_chunk)]


def second_word_positions(length: int, offset: int) -> torch.Tensor:
    """Positions of each pair's second word b_k in a chunk of ``length`` tokens (the antonym-heads post: every third token,
    offset by one)."""
    return torch.arange(offset + 1, length, 3)


def positions_run(length: int, offset: int) -> int:
    """How many leading tokens of a chunk of ``length`` the task's loss reads: up to the prediction of its last
    second word. The model is causal, so the tokens after change nothing the loss sees and are not run."""
    return int(second_word_positions(length, offset)[-1])


def second_word_losses(bridge, chunk: torch.Tensor, offset: int, fwd_hooks=()) -> torch.Tensor:
    """Summed cross-entropy of each pair's second word in one chunk, per row of the model's output (one row, or one
    per copy when a hook widens the batch).  chunk [pos]  → [rows]

    Only the positions that predict a second word are unembedded, and only ``positions_run`` tokens run."""
    targets = second_word_positions(len(chunk), offset)
    resid = final_residual(bridge, chunk[None, :positions_run(len(chunk), offset)], fwd_hooks)  # [rows, pos, d]
    logits = unembed(bridge, resid[:, targets - 1]).float()  # [rows, targets, vocab]
    labels = chunk[targets].repeat(logits.shape[0])
    # over the last, contiguous dimension: the log-softmax of a transposed [rows, vocab, targets] view ran ~10x slower
    losses = F.cross_entropy(logits.flatten(0, 1), labels, reduction="none")
    return losses.view(logits.shape[0], -1).sum(dim=1)


def n_second_words(chunks: list[torch.Tensor], offset: int) -> int:
    """How many second words the chunks hold: the denominator of the task's mean loss."""
    return sum(len(second_word_positions(len(c), offset)) for c in chunks)


@torch.no_grad()
def antonym_loss(bridge, chunks: list[torch.Tensor], offset: int) -> float:
    """Mean second-word loss of the intact model over the chunks."""
    return sum(float(second_word_losses(bridge, c, offset)[0]) for c in chunks) / n_second_words(chunks, offset)


LOGITS_BYTES_PER_PASS = 1 << 30  # a pass's fp32 logits stay under 1 GiB: heads are split over passes beyond it


@torch.no_grad()
def mean_ablation_deltas(bridge, chunks, offset: int, mean_z: dict[int, torch.Tensor],
                         layers=None, progress: bool = False) -> np.ndarray:
    """Loss change when each head of ``layers`` (default: all) is replaced by its mean output; other layers' rows
    stay NaN.  → [layer, head]

    One pass per chunk and layer: the chunk runs once up to the layer's heads, where it widens into one copy per
    head, each copy with its own head ablated (``analyze.core.hooks.widen_and_ablate``), and the copies run the rest
    of the model as one batch. The same sums as one pass per head; the layers before the ablated one run once
    instead of once per head, which halves a deep model's arithmetic."""
    cfg = bridge.cfg
    chunks = [c.to(model_device(bridge)) for c in chunks]
    base, count = antonym_loss(bridge, chunks, offset), n_second_words(chunks, offset)
    out = np.full((cfg.n_layers, cfg.n_heads), np.nan)
    ablated = list(range(cfg.n_layers) if layers is None else layers)
    for layer in tqdm(ablated, desc="ablation: layers", leave=False, unit="layer", disable=not progress):
        total = np.zeros(cfg.n_heads)
        for chunk in chunks:
            n_targets = len(second_word_positions(len(chunk), offset))
            per_pass = max(1, LOGITS_BYTES_PER_PASS // (n_targets * cfg.d_vocab * 4))
            for first in range(0, cfg.n_heads, per_pass):
                heads = list(range(first, min(first + per_pass, cfg.n_heads)))
                hook = (f"blocks.{layer}.attn.hook_z", widen_and_ablate([(h, mean_z[layer][:, h]) for h in heads]))
                total[heads] += second_word_losses(bridge, chunk, offset, [hook]).double().cpu().numpy()
        out[layer] = total / count - base
    return out


def compute(inputs: ProbeInputs) -> FamilyOutput:
    pairs, bos = inputs.words.pairs, inputs.bos_id
    chunks = antonym_chunks(pairs.token_ids[: pairs.n_pairs], pairs.token_ids[pairs.n_pairs:],
                            inputs.bridge.cfg.n_ctx, bos, newline_id(inputs.tokenizer))
    offset = 0 if bos is None else 1
    run = max(positions_run(len(c), offset) for c in chunks)
    brown = torch.as_tensor(inputs.brown_prompts(max(len(c) for c in chunks)), device=model_device(inputs.bridge))
    deltas = mean_ablation_deltas(inputs.bridge, chunks, offset,
                                  mean_head_outputs(inputs.bridge, brown[:, :run]),  # the causal model's means there
                                  inputs.probed_layers, inputs.progress)
    return FamilyOutput({"ablation_delta_loss": deltas.reshape(-1)})


def ablation_figure(frame, path, top: int = 30):
    shown = rank_heads(frame, FAMILY.column("ablation_delta_loss"), top)
    fig, ax = plt.subplots(figsize=(6, 1 + 0.22 * len(shown)))
    ax.barh(shown.head_id, shown.ablation_delta_loss)  # head names read horizontally, largest on top
    ax.invert_yaxis()
    ax.set_xlabel("antonym loss increase when mean-ablated (nats)")
    ax.tick_params(axis="y", labelsize=8)
    return save_figure(fig, path)


def report(ri) -> list:
    from analyze.core.html import Section

    if "ablation_delta_loss" not in ri.frame:
        return []
    fig = ablation_figure(ri.frame, ri.out / "fig_ablation.png")
    return [Section("Mean ablation on the antonym task", figures=[(fig, "loss increase")])]


FAMILY = ProbeFamily(
    name="ablation", source="the antonym-heads post",
    summary="antonym-task loss increase when the head is mean-ablated",
    columns=(Column("ablation_delta_loss", "second-word loss with the head's output replaced by its Brown mean, "
                                           "minus the loss of the intact model", "0 for a head the task does not use",
                       null=0.0),),
    compute=compute, needs=("word pairs",), report=report,
)
