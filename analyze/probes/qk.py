"""Probe family ``qk`` (the L1H5 semantic-head post, GPT-2 L1H5 "semantic head"): the token QK map and its symmetric part.

Which "64 eigenvalues of W_sym" (the L1H5 semantic-head post: "we compute the 64 eigenvalues of W_sym and find that 33 are
negative"). W_sym = (W_Q W_K^T + W_K W_Q^T)/2 = [W_Q W_K] J [W_Q W_K]^T with J = [[0, I], [I, 0]]/2, so by
Sylvester's law of inertia every head whose [W_Q W_K] has full rank has exactly d_head positive and d_head
negative non-zero eigenvalues: counting all of them says nothing. The seed's code decomposes W_sym and rebuilds
the map from d_head eigenpairs (``W_steered = eigenvectors * diag(eigenvalues) * eigenvectors.T``), i.e. the
d_head eigenvalues of largest magnitude, where a rank-d_head matrix would have all of its. We count the
negative ones among those: ``qk_neg_eigs`` out of ``qk_n_eigs`` = d_head. A head whose strongest symmetric
directions suppress (self-suppression) scores well above d_head / 2; an unstructured head scores about
d_head / 2 and varies from head to head (the split of magnitudes between the two signs is random).

Token-token QK map of a head over a token set: ``A = E W_Q W_K^T E^T / sqrt(d_head)``, with E the tokens'
embedding after the LayerNorm the head reads (raw W_E for layer-0 heads, the effective embedding W_EE after;
query/key biases left out, as the seed does). Its symmetric part (A + A^T)/2 carries self-attention (the
skew part is zero on the diagonal); negative eigenvalues of the symmetric part of W_Q W_K^T let a head
suppress attention to itself while attending to similar tokens.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from analyze.core.embeddings import TokenEmbeddings, embedding_for_layer
from analyze.core.heads import head_id
from analyze.probes.inputs import FamilyOutput, ProbeInputs
from analyze.probes.columns import Column, ProbeFamily
from train.config import ConfigError


def qk_bilinear(w_q: torch.Tensor, w_k: torch.Tensor) -> np.ndarray:
    """W_Q W_K^T in float64.  → [d_model, d_model]"""
    return (w_q.detach().double() @ w_k.detach().double().T).cpu().numpy()


def token_map(e: torch.Tensor, bilinear: np.ndarray, d_head: int) -> np.ndarray:
    """A[i, j] = e_i M e_j / sqrt(d_head) for any bilinear form M (a steered one).  → [n, n]"""
    x = e.detach().double().cpu().numpy()
    return x @ bilinear @ x.T / d_head ** 0.5


def qk_token_map(e: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor) -> np.ndarray:
    """A[i, j] = e_i W_Q W_K^T e_j / sqrt(d_head): the score query token i gives key token j, from the factors
    (e W_Q)(e W_K)^T in float64. Batched over heads when W_Q, W_K have a leading head axis.  → [..., n, n]"""
    x = e.detach().double()
    queries, keys = x @ w_q.detach().double(), x @ w_k.detach().double()
    return (queries @ keys.transpose(-1, -2)).cpu().numpy() / w_q.shape[-1] ** 0.5


def symmetric_skew(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a = sym + skew exactly; skew has a zero diagonal."""
    return (a + np.swapaxes(a, -1, -2)) / 2, (a - np.swapaxes(a, -1, -2)) / 2


def gram_root(x: np.ndarray) -> np.ndarray:
    """A square root R of the Gram matrix of x's columns (R^T R = x^T x), from its eigendecomposition x^T x =
    V diag(λ) V^T: R = diag(√λ) V^T.  [..., n, k] → [..., k, k]

    Then x = Q R with Q = x V diag(1/√λ) orthonormal on x's range, so a form x C x^T has the same non-zero
    eigenvalues, Frobenius norm and singular values as the k × k core R C R^T. A QR decomposition's R would do
    as well; one matrix product and a small eigh, batched over heads, cost far less than LAPACK's QR of each tall
    x (5.7 s of SmolLM2's 270 heads of 3,000 tokens). The norms and top singular values read from it depend on
    x's large singular values, which the Gram matrix keeps (SmolLM2's scores moved by < 1e-13); sign counts of
    small eigenvalues do not, and come from ``symmetric_core``."""
    lam, v = np.linalg.eigh(np.swapaxes(x, -1, -2) @ x)
    return np.sqrt(np.clip(lam, 0.0, None))[..., :, None] * np.swapaxes(v, -1, -2)


def pair_form(d: int, symmetric: bool = True) -> np.ndarray:
    """J with [u v] J [u v]^T = sym(u v^T) (or u v^T itself when not symmetric).  → [2d, 2d]"""
    zero, eye = np.zeros((d, d)), np.eye(d)
    return np.block([[zero, eye / 2], [eye / 2, zero]]) if symmetric else np.block([[zero, eye], [zero, zero]])


def eigen_floor(values: np.ndarray) -> np.ndarray:
    """Eigenvalues below 1e-9 of the largest magnitude set to 0: rounding, not a direction of the form."""
    scale = np.abs(values).max(axis=-1, keepdims=True, initial=0.0)
    return np.where(np.abs(values) > scale * 1e-9, values, 0.0)


def symmetric_core(w_q: torch.Tensor, w_k: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """sym(W_Q W_K^T) = W J W^T with W = [W_Q W_K] = Q R (QR, Householder): its non-zero spectrum is that of the
    2 d_head × 2 d_head core R J R^T, and its eigenvectors are Q times the core's. QR and not ``gram_root``
    here: the signs of a head's smallest eigenvalues are counted, and QR keeps them where W's singular values
    spread over many orders (a head that barely uses its W_Q W_K^T), where the Gram matrix's eigh would round
    them. Batched over heads when W_Q, W_K have a leading head axis.  → (Q [..., d_model, 2d], core [..., 2d, 2d])"""
    w = torch.cat([w_q.detach(), w_k.detach()], dim=-1).double().cpu().numpy()
    q, r = np.linalg.qr(w)
    return q, r @ pair_form(w_q.shape[-1]) @ np.swapaxes(r, -1, -2)


def symmetric_spectrum(w_q: torch.Tensor, w_k: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors (in d_model space) of the symmetric part of W_Q W_K^T, which lives in
    span(W_Q, W_K) (rank ≤ 2 d_head) and is diagonalised there (``symmetric_core``).
    Returns ``(eigenvalues [r], eigenvectors [d_model, r])`` for its non-zero eigenvalues."""
    basis, core = symmetric_core(w_q, w_k)
    values, vectors = np.linalg.eigh(core)
    keep = eigen_floor(values) != 0
    return values[keep], basis @ vectors[:, keep]


def dominant_symmetric_eigenvalues(w_q: torch.Tensor, w_k: torch.Tensor) -> np.ndarray:
    """The d_head eigenvalues of largest magnitude of sym(W_Q W_K^T) (module docstring), zeros where it has
    fewer non-zero ones. Batched over heads when W_Q, W_K have a leading head axis.  → [..., d_head]"""
    values = eigen_floor(np.linalg.eigvalsh(symmetric_core(w_q, w_k)[1]))
    order = np.argsort(-np.abs(values), axis=-1, kind="stable")[..., :w_q.shape[-1]]
    return np.take_along_axis(values, order, axis=-1)


STEER_VARIANTS = ("sym", "sym+skew")


def steered_bilinear(w_q: torch.Tensor, w_k: torch.Tensor, alpha: float, variant: str = "sym") -> np.ndarray:
    """The bilinear form with the negative eigenvalues of sym(W_Q W_K^T) scaled by ``alpha`` (the L1H5 semantic-head post steering).

    ``sym`` (the seed's): W_steered = V Λ' V^T from W_sym alone, every non-zero eigenpair kept, so alpha = 1 gives
    W_sym (the map's self-attention diagonal is exactly the head's; its off-diagonal loses the skew part).
    ``sym+skew``: the same plus the unchanged skew part, so alpha = 1 gives W_Q W_K^T exactly.  → [d_model, d_model]
    """
    if variant not in STEER_VARIANTS:
        raise ConfigError(f"steer_variant must be one of {', '.join(STEER_VARIANTS)}, got {variant!r}")
    values, vectors = symmetric_spectrum(w_q, w_k)
    steered = (vectors * np.where(values < 0, alpha * values, values)) @ vectors.T
    return steered + symmetric_skew(qk_bilinear(w_q, w_k))[1] if variant == "sym+skew" else steered


def qk_scores(queries, keys, eigenvalues: np.ndarray) -> dict[str, np.ndarray]:
    """Norms of the token QK map A = queries keys^T / sqrt(d_head) and of its symmetric / skew parts.

    queries = E W_Q, keys = E W_K: [..., n, d_head] (a leading head axis batches heads). A has rank ≤ d_head, so
    with x = [queries keys] = Q R (``gram_root``) every part is Q C Q^T for a small core C, whose Frobenius norm
    and singular values are those of the part: exact, and O(n d_head²) instead of an O(n³) SVD of the n × n map.

    qk_sym_norm_ratio = ||sym(A)||_F / ||A||_F; qk_neg_eigs = negative ones among ``eigenvalues`` (the d_head
    dominant eigenvalues of sym(W_Q W_K^T)), qk_n_eigs = how many were counted; top singular values of both
    parts of A (the largest |eigenvalue| of the symmetric core, and of i × the skew core, which is Hermitian).
    """
    as_array = lambda t: t.detach().double().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, float)  # noqa: E731
    u, v = as_array(queries), as_array(keys)
    d = u.shape[-1]
    r = gram_root(np.concatenate([u, v], axis=-1) / d ** 0.25)  # [..., 2d, 2d]
    a_core = r @ pair_form(d, symmetric=False) @ np.swapaxes(r, -1, -2)  # A = Q a_core Q^T
    sym_core, skew_core = symmetric_skew(a_core)
    fro = lambda m: np.linalg.norm(m, axis=(-2, -1))  # noqa: E731
    return {"qk_sym_norm_ratio": fro(sym_core) / np.maximum(fro(a_core), 1e-30),
            "qk_neg_eigs": (eigenvalues < 0).sum(axis=-1), "qk_n_eigs": np.full(u.shape[:-2], eigenvalues.shape[-1]),
            "qk_sym_top_sv": np.abs(np.linalg.eigvalsh(sym_core)).max(axis=-1),
            "qk_skew_top_sv": np.abs(np.linalg.eigvalsh(1j * skew_core)).max(axis=-1)}


def row_softmax(token_map: np.ndarray) -> np.ndarray:
    """Each query row of a token map as attention over the token set.  [n, n] → [n, n], rows sum to 1"""
    p = np.exp(token_map - token_map.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def self_and_category_attention(token_map: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Softmax each row of a token map over the token set: mean mass on the token itself and on the other
    tokens of its category."""
    p = row_softmax(token_map)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return float(np.diag(p).mean()), float((p * same).sum(axis=1).mean())




def token_set(cfg, categories, brown_frequent) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the QK maps and a label per token (category index, or -1 for Brown tokens)."""
    if cfg.qk_tokens == "categories":
        return np.array(categories.token_ids), np.array(categories.labels)
    ids = brown_frequent(cfg.qk_token_count)
    return ids, -np.ones(len(ids), dtype=int)


def compute(inputs: ProbeInputs) -> FamilyOutput:
    """Layer by layer, every head at once: the token set's queries and keys come from one matrix product per
    layer, and the cores, spectra and norms from batched small eighs."""
    cats = inputs.words.categories
    ids, _ = token_set(inputs.cfg, cats, inputs.brown_frequent)
    cat_ids = np.array(cats.token_ids)
    names = ("qk_sym_norm_ratio", "qk_neg_eigs", "qk_n_eigs", "qk_sym_top_sv", "qk_skew_top_sv")
    columns = {c: inputs.nan_column() for c in names}
    token_embeddings, category_embeddings = TokenEmbeddings(inputs.bridge, ids), TokenEmbeddings(inputs.bridge, cat_ids)
    category_maps = {}
    columns["qk_embedding"] = np.empty(inputs.n_total, dtype=object)
    for layer in tqdm(inputs.probed_layers, desc="qk: layers", leave=False, unit="layer", disable=not inputs.progress):  # minutes on a deep model
        rows = layer * inputs.n_heads + np.arange(inputs.n_heads)
        columns["qk_embedding"][rows] = embedding_for_layer(layer, inputs.cfg.embedding)
        w = inputs.layer_weights(layer)
        e = token_embeddings.head_input(layer, inputs.cfg.embedding)
        with torch.no_grad():
            scores = qk_scores(e @ w.w_q, e @ w.w_k, dominant_symmetric_eigenvalues(w.w_q, w.w_k))
        for k, v in scores.items():
            columns[k][rows] = v
        maps = qk_token_map(category_embeddings.head_input(layer, inputs.cfg.embedding), w.w_q, w.w_k)
        category_maps.update({head_id(inputs.name, layer, head): maps[head] for head in range(inputs.n_heads)})
    return FamilyOutput(columns, extras={"category_maps": category_maps})


def report(ri) -> list:
    from analyze.core.figures import heatmap_row
    from analyze.core.html import Section

    category_maps = ri.merged("category_maps")
    if not category_maps:
        return []
    key, heads = ri.top_heads("semantic_score", "qk_neg_eigs")
    cats = ri.words.categories
    boundaries = np.flatnonzero(np.diff(cats.labels)) + 1
    fig = heatmap_row(category_maps, heads, list(cats.words), "QK token map", ri.out / "fig_qk_maps.png",
                      boundaries=boundaries)
    return [Section("Token QK maps (the L1H5 semantic-head post)", figures=[(fig, f"A = E W_Q W_K^T E^T / √d_head over the category "
                    f"words, heads ranked by {key}; blocks are categories. A semantic head is bright inside the "
                    f"blocks and dark on the diagonal.")])]


FAMILY = ProbeFamily(
    name="qk", source="the L1H5 semantic-head post",
    summary="the token QK map A = E W_Q W_K^T E^T / √d_head over the 3,000 most frequent Brown tokens",
    columns=(
        Column("qk_sym_norm_ratio", "‖sym(A)‖_F / ‖A‖_F", "≈ 1/√2 = 0.71 for an unstructured head",
               null=2 ** -0.5),
        Column("qk_neg_eigs", "negative eigenvalues among the d_head largest-magnitude eigenvalues of W_sym = "
                              "sym(W_Q W_K^T) (the L1H5 semantic-head post's \"64 eigenvalues of W_sym\"; docs/probes.md: reading)",
               "≈ d_head/2, varying by head", null=lambda f: f["d_head"] / 2),
        Column("qk_n_eigs", "eigenvalues counted in qk_neg_eigs (d_head)", "d_head", direction=None,
               null=lambda f: f["d_head"]),
        Column("qk_sym_top_sv", "largest singular value of sym(A)", "scale-dependent", direction=None),
        Column("qk_skew_top_sv", "largest singular value of skew(A)", "scale-dependent", direction=None),
        Column("qk_embedding", "which embedding E fed the map: raw W_E or W_EE", "—", direction=None),
    ),
    compute=compute, needs=("categories",), report=report,
)
