"""Probe family ``prediction`` (McDougall & Conmy, "Why might negative name mover heads exist?"): prediction-attention.

McDougall & Conmy, Eq. 1–2: a head whose query is the unembedding of a token it would predict attends to earlier copies
of that token. Score(B) = (1/|B|) Σ_{t∈B} softmax_{s∈B}[W_EE,s W_K W_Q^T W_U,t]_t over bags B of distinct
tokens, averaged over bags.

``prediction_attention`` is Eq. 2 as written: keys are what the layer reads (W_EE through its input norm) times
W_K, queries are the unembedding columns W_U,t times W_Q (Eq. 1 puts no norm on them), biases added where the
model has them, and no 1/√d_head: Eq. 2 takes the softmax of the bilinear form itself.
``prediction_attention_normalised`` is the authors' later variant: the query side is read as the residual stream
would be, W_U,t through the layer's input norm, and the scores are scaled by 1/√d_head as the head scales its
own, so the softmax temperature no longer depends on ‖W_U,t‖.
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.core.embeddings import TokenEmbeddings, embedding_for_layer, head_input
from analyze.core.heads import head_id
from analyze.probes.inputs import FamilyOutput, NotApplicable, ProbeInputs
from analyze.probes.columns import Column, ProbeFamily, rank_heads


def bag_attention(keys: torch.Tensor, queries: torch.Tensor, bag: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """softmax over keys s ∈ B of scale · (k_s · q_t), for every query t ∈ B.  → [t, s]"""
    with torch.no_grad():
        logits = (queries[bag].double() @ keys[bag].double().T) * scale  # [t, s]
        return logits.softmax(dim=-1).cpu().numpy()


def prediction_attention(keys: torch.Tensor, queries: torch.Tensor, bags: list[np.ndarray], scale: float = 1.0) -> float:
    """McDougall & Conmy Eq. 2: over bags B of distinct tokens, mean over t ∈ B of softmax_{s ∈ B}(k_s · q_t) at s = t.

    keys: [n, d_head]; queries: [n, d_head]; bags index rows of both. A head that attends to the tokens it would
    predict scores 1; chance is 1/|B|.
    """
    return float(np.mean([np.diag(bag_attention(keys, queries, bag, scale)).mean() for bag in bags]))


def brown_bags(prompts: np.ndarray, size: int, exclude=()) -> list[np.ndarray]:
    """Bags of ``size`` distinct tokens, one per Brown prompt that has that many (first occurrences, in order),
    leaving out ``exclude`` (the BOS the prompts start with)."""
    bags = []
    for row in prompts:
        row = row[~np.isin(row, list(exclude))]
        _, first = np.unique(row, return_index=True)
        if len(first) >= size:
            bags.append(row[np.sort(first)][:size])
    return bags


def compute(inputs: ProbeInputs) -> FamilyOutput:
    bridge = inputs.bridge
    bags = brown_bags(inputs.brown_prompts(64, inputs.cfg.n_bags), inputs.cfg.bag_size,
                      () if inputs.bos_id is None else (inputs.bos_id,))
    if not bags:
        raise NotApplicable(f"no held-out window of 64 tokens has {inputs.cfg.bag_size} distinct tokens")
    every = np.unique(np.concatenate(bags))
    row_of = {t: i for i, t in enumerate(every)}
    bag_rows = [np.array([row_of[t] for t in bag]) for bag in bags]
    embeddings = TokenEmbeddings(bridge, every)
    unembed = bridge.W_U[:, torch.as_tensor(every, device=bridge.W_U.device)].T.float()  # [every, d_model]
    literal, normalised, bag_maps = inputs.nan_column(), inputs.nan_column(), {}
    read = np.empty(inputs.n_total, dtype=object)
    unembed_normed = {}  # {layer: W_U columns through its norm}, one layer at a time, shared by its heads
    for row, layer, head in inputs.heads():
        w = inputs.head_weights(layer, head)
        if layer not in unembed_normed:
            unembed_normed = {layer: head_input(bridge, layer, unembed)}
        with torch.no_grad():
            keys = embeddings.head_input(layer, inputs.cfg.embedding) @ w.w_k + w.b_k
            queries = unembed @ w.w_q + w.b_q
            queries_normed = unembed_normed[layer] @ w.w_q + w.b_q
        literal[row] = prediction_attention(keys, queries, bag_rows)
        normalised[row] = prediction_attention(keys, queries_normed, bag_rows, 1 / w.w_q.shape[-1] ** 0.5)
        read[row] = embedding_for_layer(layer, inputs.cfg.embedding)
        bag_maps[head_id(inputs.name, layer, head)] = bag_attention(keys, queries, bag_rows[0])
    return FamilyOutput({"prediction_attention": literal, "prediction_attention_normalised": normalised,
                         "prediction_embedding": read}, extras={"bag_maps": bag_maps, "bag_tokens": bags[0]})


def report(ri) -> list:
    from analyze.core.figures import heatmap_row
    from analyze.core.html import Section

    bag_maps = ri.merged("bag_maps")
    if not bag_maps or "prediction_attention" not in ri.frame:
        return []
    heads = list(rank_heads(ri.frame, FAMILY.column("prediction_attention"), ri.cfg.top_heads).head_id)
    bag = next(e["bag_tokens"] for e in ri.extras.values() if e.get("bag_tokens") is not None)
    labels = [ri.tokenizer.decode([int(t)]) for t in bag]
    fig = heatmap_row(bag_maps, heads, labels, "prediction-attention", ri.out / "fig_prediction_attention.png",
                      signed=False)
    return [Section("Prediction-attention (McDougall & Conmy, Eq. 2)", figures=[(fig, "softmax over key tokens s of "
                    "W_EE,s W_K W_Q^T W_U,t for one bag of Brown tokens; the score is the mean of the diagonal")])]


FAMILY = ProbeFamily(
    name="prediction", source="McDougall & Conmy",
    summary="Eq. 2: attention from unembedding queries to the same tokens among a bag of distinct tokens",
    columns=(Column("prediction_attention", "Eq. 2 as written: mean over bags B and t ∈ B of "
                                            "softmax_{s∈B}(W_EE,s W_K W_Q^T W_U,t) at s = t; keys through the "
                                            "layer's norm, queries the raw W_U column, no 1/√d_head "
                                            "(32 bags of 16 distinct held-out Brown tokens)", "1/|B| = 0.0625",
                    null=lambda f: 1 / f["bag_size"]),
             Column("prediction_attention_normalised", "the authors' later variant: queries ln(W_U,t) W_Q, scores "
                                                       "scaled by 1/√d_head", "1/|B| = 0.0625",
                    null=lambda f: 1 / f["bag_size"]),
             Column("prediction_embedding", "which embedding fed the keys: raw W_E or W_EE", "—",
                    direction=None)),
    compute=compute, report=report,
)
