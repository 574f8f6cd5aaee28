"""QK-side probes of one model (issue: QK and semantic probes): adds columns to the per-head rows and
returns per-head extras (steering, token clusters, upstream ablation) when a head is named."""

from __future__ import annotations

import numpy as np
import torch

from analyze import qk, semantic
from analyze.extract import attention_patterns, parse_head_id


def check_head(spec: str, name: str, bridge) -> tuple[int, int] | None:
    """(layer, head) if ``spec`` names a head of this model, None if it names another model's; error if absent."""
    if not spec:
        return None
    model, layer, head = parse_head_id(spec)
    if model != name:
        return None
    if not (0 <= layer < bridge.cfg.n_layers and 0 <= head < bridge.cfg.n_heads):
        raise ValueError(f"head {spec} does not exist: {name} has {bridge.cfg.n_layers} layers × "
                         f"{bridge.cfg.n_heads} heads")
    return layer, head


def token_set(cfg, categories, brown_frequent) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the QK maps and a label per token (category index, or -1 for Brown tokens)."""
    if cfg.qk_tokens == "categories":
        return np.array(categories.token_ids), np.array(categories.labels)
    if cfg.qk_token_count > 50_257:
        raise ValueError(f"qk_token_count {cfg.qk_token_count} is larger than the 50,257-token vocabulary")
    ids = brown_frequent(cfg.qk_token_count)
    return ids, -np.ones(len(ids), dtype=int)


def qk_side_probes(bridge, name: str, rows: list[dict], families: set[str], categories, cfg, brown_prompts,
                   brown_frequent, tokenizer) -> dict:
    """Semantic, QK-map and prediction-attention columns, added to ``rows`` (one per head, layer-major), and
    the extras the report draws: category-token QK maps, one bag's prediction-attention, and the outputs of
    the heads named in ``cfg`` (steering, token clusters, upstream ablation)."""
    from analyze.ov import effective_embedding, raw_embedding

    extras: dict = {}
    named = {k: check_head(getattr(cfg, k), name, bridge) for k in ("steer_head", "cluster_head", "semantic_head")}
    bos = tokenizer.bos_token_id if bridge.cfg.default_prepend_bos else None
    cat_ids, cat_labels = np.array(categories.token_ids), np.array(categories.labels)
    length = min(cfg.semantic_len, bridge.cfg.n_ctx)
    sem_tokens, sem_labels = semantic.semantic_prompts(cat_ids, cat_labels, length, cfg.semantic_prompts, cfg.seed, bos)
    sem_mask = semantic.semantic_mask(sem_tokens, sem_labels)
    if "semantic" in families:
        patterns = attention_patterns(bridge, sem_tokens)
        for row, score, sup in zip(rows, semantic.semantic_score(patterns, sem_mask),
                                   semantic.self_suppression(patterns, sem_mask)):
            row.update(semantic_score=float(score), self_suppression=float(sup))
    if named["semantic_head"] is not None:
        layer, head = named["semantic_head"]
        extras["upstream_ablation"] = semantic.upstream_ablation(bridge, layer, head, sem_tokens, sem_mask,
                                                                 brown_prompts(length))

    need_maps = "qk" in families or any(named[k] is not None for k in ("steer_head", "cluster_head"))
    if need_maps or "prediction" in families:
        ids, labels = token_set(cfg, categories, brown_frequent)
        bags = qk.brown_bags(brown_prompts(64, cfg.n_bags), cfg.bag_size) if "prediction" in families else []
        every = np.unique(np.concatenate([ids, cat_ids, *bags]))
        row_of = {t: i for i, t in enumerate(every)}  # token id → row of the embeddings below
        id_rows, cat_rows = [row_of[t] for t in ids], [row_of[t] for t in cat_ids]
        bag_rows = [np.array([row_of[t] for t in bag]) for bag in bags]
        raw = raw_embedding(bridge, every)
        ee = effective_embedding(bridge, every) if cfg.embedding != "raw" and bridge.cfg.n_layers > 1 else raw
        unembed = bridge.W_U[:, torch.as_tensor(every)].T.float()  # [every, d_model]: prediction queries
        category_maps, bag_maps = {}, {}
        for layer in range(bridge.cfg.n_layers):
            e = qk.head_input(bridge, layer, raw, ee, cfg.embedding)  # [every, d_model]
            e_ids, e_cat = e[id_rows], e[cat_rows]
            for head in range(bridge.cfg.n_heads):
                row = rows[layer * bridge.cfg.n_heads + head]
                w_q, w_k = bridge.W_Q[layer, head], bridge.W_K[layer, head]
                if "qk" in families:
                    with torch.no_grad():
                        row.update(qk.qk_scores(e_ids @ w_q, e_ids @ w_k, qk.symmetric_spectrum(w_q, w_k)[0]))
                    category_maps[row["head_id"]] = qk.qk_token_map(e_cat, w_q, w_k)
                if "prediction" in families:
                    with torch.no_grad():
                        keys, queries = e @ w_k, unembed @ w_q  # [every, d_head] each
                    row["prediction_attention"] = qk.prediction_attention(keys, queries, bag_rows)
                    bag_maps[row["head_id"]] = qk.bag_attention(keys, queries, bag_rows[0])
                if (layer, head) == named["steer_head"]:
                    extras["steering"] = steering_rows(cfg, e_cat, w_q, w_k, cat_labels)
                if (layer, head) == named["cluster_head"]:
                    token_map = qk.qk_token_map(e_ids, w_q, w_k)
                    extras["token_clusters"] = (ids, labels, token_clusters(token_map, cfg.token_knn, cfg.seed))
        extras.update(category_maps=category_maps, bag_maps=bag_maps, bag_tokens=bags[0] if bags else None)
    return extras


def steering_rows(cfg, e_cat: torch.Tensor, w_q, w_k, cat_labels: np.ndarray) -> list[dict]:
    """Self and in-category attention of the category-token map with negative eigenvalues scaled by each α."""
    e = e_cat.double().cpu().numpy()  # [words, d_model]
    out = []
    for alpha in cfg.alphas:
        amap = e @ qk.steered_bilinear(w_q, w_k, alpha) @ e.T / w_q.shape[-1] ** 0.5
        self_att, in_cat = qk.self_and_category_attention(amap, cat_labels)
        out.append({"head_id": cfg.steer_head, "alpha": alpha, "self_attention": self_att,
                    "in_category_attention": in_cat})
    return out


def token_clusters(token_map: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Leiden (γ = 1) on the kNN graph of the rows of the softmaxed token map: tokens that attend alike."""
    from analyze.cluster import knn_graph, leiden

    p = qk.row_softmax(token_map)
    return leiden(knn_graph(p, min(k, len(p))), 1.0, seed)
