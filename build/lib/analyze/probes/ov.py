"""Probe family ``ov`` (antonym-heads post, antonym heads): what a head writes when it attends to a word, read as logits
over a word list.

The antonym-heads post: "Each word in the dataset is tokenized and embedded. These embeddings are then multiplied by the OV
weight matrix for each attention head, before being multiplied by the unembedding matrix and adding bias to
produce predicted logits. Filtering out logits not corresponding to tokens in the dataset yields an
n_words * n_words matrix." Embeddings as ``analyze.core.embeddings`` (W_EE after layer 0, its footnote 2);
the path is embedding → the block's input norm → W_V (+ b_V) → W_O → final norm → W_U (+ b_U).
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.core.embeddings import HeadWeights, TokenEmbeddings, embedding_for_layer, unembedding_bias
from analyze.core.heads import head_id
from analyze.probes.inputs import FamilyOutput, ProbeInputs
from analyze.probes.columns import Column, ProbeFamily, rank_heads


@torch.no_grad()
def ov_token_map(bridge, w: HeadWeights, head_input: torch.Tensor, token_ids) -> np.ndarray:
    """Logits over ``token_ids`` when the head (weights ``w``) attends to each of them.
    head_input [n, d_model] → [n, n]"""
    ids = torch.as_tensor(token_ids, device=head_input.device)
    out = (head_input @ w.w_v + w.b_v) @ w.w_o  # [n, d_model]
    y = bridge.ln_final(out[None])[0]
    return (y @ bridge.W_U[:, ids] + unembedding_bias(bridge)[ids]).float().cpu().numpy()


def tally_scores(token_map: np.ndarray, antonym_of: np.ndarray) -> dict[str, float]:
    """Row-wise tallies of a word→word logit map (the antonym-heads post), counting strict wins only.

    antonym_tally: the antonym's logit is above every other logit of the row (the double diagonal);
    copying_score: the word's own logit is; category_tally: the word's and its antonym's logits are both above
    every other logit (the triple diagonal). A row with no strict maximum is not a hit: a head that writes
    nothing (all logits equal) scores 0, not 1/n_words.
    """
    n = len(token_map)
    rows = np.arange(n)

    def strictly_above_rest(cols: list[np.ndarray]) -> np.ndarray:
        """[row] True where the entries at ``cols`` all beat every other entry of the row."""
        rest = token_map.copy()
        for c in cols:
            rest[rows, c] = -np.inf
        lowest = np.min(np.stack([token_map[rows, c] for c in cols]), axis=0)
        return lowest > rest.max(axis=1)

    return {"antonym_tally": float(np.mean(strictly_above_rest([antonym_of]))),
            "copying_score": float(np.mean(strictly_above_rest([rows]))),
            "category_tally": float(np.mean(strictly_above_rest([rows, antonym_of])))}


def compute(inputs: ProbeInputs) -> FamilyOutput:
    pairs = inputs.words.pairs
    embeddings = TokenEmbeddings(inputs.bridge, pairs.token_ids)
    antonym_of = np.array([pairs.antonym_index(i) for i in range(len(pairs.words))])
    columns = {c: inputs.nan_column() for c in ("antonym_tally", "copying_score", "category_tally")}
    columns["ov_embedding"] = np.empty(inputs.n_total, dtype=object)
    maps = {}
    for row, layer, head in inputs.heads():
        token_map = ov_token_map(inputs.bridge, inputs.head_weights(layer, head),
                                 embeddings.head_input(layer, inputs.cfg.embedding), pairs.token_ids)
        maps[head_id(inputs.name, layer, head)] = token_map
        for k, v in tally_scores(token_map, antonym_of).items():
            columns[k][row] = v
        columns["ov_embedding"][row] = embedding_for_layer(layer, inputs.cfg.embedding)
    return FamilyOutput(columns, extras={"maps": maps})


def report(ri) -> list:
    from analyze.core.html import Section

    if not ri.merged("maps"):
        return []
    heads = list(rank_heads(ri.frame, FAMILY.column("antonym_tally"), ri.cfg.top_heads).head_id)
    return [Section("OV word maps (the antonym-heads post)", "Every head's word → word OV map is on this page: pick the head in the "
                    f"grid or the table above (top antonym heads: {', '.join(heads)}). Rows: input word; columns: "
                    "output logits, the first halves of the pairs then the second halves.")]


FAMILY = ProbeFamily(
    name="ov", source="the antonym-heads post",
    summary="tallies of the word→word OV logit map over the antonym pairs (analyze/data/antonyms.txt)",
    columns=(
        Column("antonym_tally", "share of words whose top logit is their antonym (the double diagonal)",
               "1/n_words", null=lambda f: 1 / f["n_words"]),
        Column("copying_score", "share of words whose top logit is the word itself", "1/n_words",
               null=lambda f: 1 / f["n_words"]),
        Column("category_tally", "share of words whose top two logits are the word and its antonym",
               "2/(n_words(n_words − 1))", null=lambda f: 2 / (f["n_words"] * (f["n_words"] - 1))),
        Column("ov_embedding", "which embedding fed the map: raw W_E or W_EE", "—", direction=None),
    ),
    compute=compute, needs=("word pairs",), report=report,
)
