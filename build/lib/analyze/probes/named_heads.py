"""Outputs for heads the user names (the L1H5 semantic-head post's follow-ups on one head): steering of its negative eigenvalues
(``--steer``), Leiden clusters of its token QK map (``--cluster-head``) and the upstream mean-ablation of its
semantic score (``--semantic-head``)."""

from __future__ import annotations

import numpy as np

from analyze.core.embeddings import TokenEmbeddings
from analyze.core.heads import parse_head_id
from analyze.probes import qk, semantic
from analyze.probes.inputs import ProbeInputs
from train.config import ConfigError

NAMED = ("steer_head", "cluster_head", "semantic_head")


def check_head(spec: str, name: str, bridge) -> tuple[int, int] | None:
    """(layer, head) if ``spec`` names a head of this model, None if it names another model's; error if absent."""
    if not spec:
        return None
    model, layer, head = parse_head_id(spec)
    if model != name:
        return None
    if not (0 <= layer < bridge.cfg.n_layers and 0 <= head < bridge.cfg.n_heads):
        raise ConfigError(f"head {spec} does not exist: {name} has {bridge.cfg.n_layers} layers × "
                         f"{bridge.cfg.n_heads} heads")
    return layer, head


def named_head_extras(inputs: ProbeInputs) -> dict:
    """``steering``, ``token_clusters`` and ``upstream_ablation`` for the heads of this model named in the config."""
    cfg, bridge = inputs.cfg, inputs.bridge
    named = {k: check_head(getattr(cfg, k), inputs.name, bridge) for k in NAMED}
    extras: dict = {}
    if named["semantic_head"] is not None:
        layer, head = named["semantic_head"]
        tokens, labels = semantic.category_prompts(inputs)
        extras["upstream_ablation"] = semantic.upstream_ablation(bridge, layer, head, tokens,
                                                                 semantic.semantic_mask(tokens, labels),
                                                                 inputs.brown_prompts(tokens.shape[1]))
    if named["steer_head"] is not None:
        layer, head = named["steer_head"]
        cats = inputs.words.categories
        e_cat = TokenEmbeddings(bridge, cats.token_ids).head_input(layer, cfg.embedding)
        w = inputs.head_weights(layer, head)
        extras["steering"] = steering_rows(cfg, e_cat, w.w_q, w.w_k, np.array(cats.labels))
    if named["cluster_head"] is not None:
        layer, head = named["cluster_head"]
        ids, labels = qk.token_set(cfg, inputs.words.categories, inputs.brown_frequent)
        w = inputs.head_weights(layer, head)
        e = TokenEmbeddings(bridge, ids).head_input(layer, cfg.embedding)
        token_map = qk.qk_token_map(e, w.w_q, w.w_k)
        clusters = (token_clusters(token_map, cfg.seed) if cfg.token_graph == "map"
                    else token_clusters_knn(token_map, cfg.token_knn, cfg.seed))
        extras["token_clusters"] = (ids, labels, clusters)
    return extras


def steering_rows(cfg, e_cat, w_q, w_k, cat_labels: np.ndarray) -> list[dict]:
    """Self and in-category attention of the category-token map with negative eigenvalues scaled by each α."""
    out = []
    for alpha in cfg.alphas:
        amap = qk.token_map(e_cat, qk.steered_bilinear(w_q, w_k, alpha, cfg.steer_variant), w_q.shape[-1])
        self_att, in_cat = qk.self_and_category_attention(amap, cat_labels)
        out.append({"head_id": cfg.steer_head, "variant": cfg.steer_variant, "alpha": alpha,
                    "self_attention": self_att, "in_category_attention": in_cat})
    return out


def token_clusters(token_map: np.ndarray, seed: int) -> np.ndarray:
    """Leiden (γ = 1) on the token map itself (the L1H5 semantic-head post: "we ran the Leiden community detection algorithm" on the
    attention map): rows softmaxed into attention over the token set, symmetrised (P + P^T)/2 as edge weights,
    self-loops dropped. Tokens that attend to each other strongly share a community however peaked the rows are.
    """
    import igraph as ig

    from analyze.core.graphs import leiden

    p = qk.row_softmax(token_map)
    weights = (p + p.T) / 2
    rows, cols = np.triu_indices(len(p), k=1)
    keep = weights[rows, cols] > 1e-12  # a dense map: drop only the edges that carry nothing
    graph = ig.Graph(n=len(p), edges=list(zip(rows[keep].tolist(), cols[keep].tolist())))
    graph.es["weight"] = weights[rows, cols][keep].tolist()
    return leiden(graph, 1.0, seed)


def token_clusters_knn(token_map: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The earlier variant: Leiden (γ = 1) on the kNN graph of the rows of the softmaxed map (tokens that attend
    alike); it degrades when rows are peaked or categories are smaller than k."""
    from analyze.core.graphs import knn_graph, leiden

    p = qk.row_softmax(token_map)
    return leiden(knn_graph(p, min(k, len(p))), 1.0, seed)
