"""Autoencoder compression of token-pair attention weights and the choice of bottleneck (Attention Phrenology §2.2.1, Table 1).

Following the authors' R code (edkins/universality, R/parse.R, autoencode.R, cluster.R): every
(prompt, model, head) pattern is one row of token-pair weights; a dense tanh autoencoder (linear output) is
trained with Adam on MSE; a head's embedding is its prompts' bottleneck codes concatenated. We drop the 120
upper-triangle entries, which are zero for every causal head (136 of 256 inputs remain), and report MSE on
held-out rows.

One deviation: the authors' encoders halved from 128 down to the bottleneck (bottleneck 2: seven layers,
bottleneck 64: two), so a smaller code meant a deeper net with about as many parameters, and no parameter
count could say what the code size costs. We keep one tanh hidden layer of 128 on each side
(in → 128 → bottleneck → 128 → in), so the bottleneck is the only thing that changes between models.

Bottleneck choice. The paper's ``AIC = 2k - 2 ln(MSE)`` with k = bottleneck width puts MSE where a
likelihood belongs: ln(MSE) moves by a few units between bottlenecks while 2k grows by 4 to 64, so it picks
the smallest bottleneck whatever the data. A Gaussian likelihood with the residual variance sigma^2 = MSE
over n held-out values gives ``-2 ln L = n (ln(2 pi MSE) + 1)``; with k the real parameter count of the
autoencoder, AIC = 2k - 2 ln L and BIC = k ln(n) - 2 ln L are comparable across bottlenecks.

We select with BIC by default. A wider code also passes some of the input's noise through, which lowers
the reconstruction error by about one held-out row's worth of variance per extra dimension; with ~10^5
held-out rows AIC's penalty of 2 per parameter never outweighs that, so AIC keeps growing the code, while
BIC's ln(n) per parameter does and is consistent for the latent dimension (tests/analyze/test_autoencoder.py:
data with a known 3-dimensional latent, BIC picks 3, AIC 12).
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch import nn

from analyze.core.parallel import parallel_map


def lower_triangle_index(n_ctx: int) -> tuple[np.ndarray, np.ndarray]:
    """(query, key) of the n_ctx (n_ctx + 1) / 2 token pairs a causal head can attend (136 for n_ctx 16)."""
    return np.tril_indices(n_ctx)


def token_pair_rows(patterns: np.ndarray, drop_upper: bool = True) -> np.ndarray:
    """[head, prompt, query, key] → [head*prompt, pairs]: one row per (head, prompt), head-major."""
    n_ctx = patterns.shape[-1]
    if drop_upper:
        q, k = lower_triangle_index(n_ctx)
        return patterns[:, :, q, k].reshape(-1, len(q))
    return patterns.reshape(-1, n_ctx * n_ctx)


def _autoencoder(n_inputs: int, hidden: int, bottleneck: int) -> tuple[nn.Sequential, nn.Sequential]:
    encoder = nn.Sequential(nn.Linear(n_inputs, hidden), nn.Tanh(), nn.Linear(hidden, bottleneck), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(bottleneck, hidden), nn.Tanh(), nn.Linear(hidden, n_inputs))
    return encoder, decoder


class PatternAutoencoder:
    """Dense tanh autoencoder, scikit-learn style: ``fit(X)`` then ``transform`` / ``reconstruction_mse``.

    Parameters
    ----------
    bottleneck : width of the code.
    hidden : width of the hidden layer on each side of the code (authors' first layer: 128).
    epochs, batch_size, lr : Adam training (authors: 10,000 epochs of batch 256 in keras; we default to far
        fewer, see configs/phrenology.yaml, and report the held-out MSE reached).
    random_state : seeds initialisation and batch order.
    """

    def __init__(self, bottleneck: int, hidden: int = 128, epochs: int = 10, batch_size: int = 256,
                 lr: float = 1e-3, random_state: int = 0):
        self.bottleneck, self.hidden = bottleneck, hidden
        self.epochs, self.batch_size, self.lr, self.random_state = epochs, batch_size, lr, random_state

    def fit(self, X: np.ndarray) -> "PatternAutoencoder":
        gen = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.encoder_, self.decoder_ = _autoencoder(X.shape[1], self.hidden, self.bottleneck)
        params = [*self.encoder_.parameters(), *self.decoder_.parameters()]
        self.n_params_ = sum(p.numel() for p in params)
        opt = torch.optim.Adam(params, lr=self.lr, foreach=True)  # the same sums as the per-tensor loop, 5% faster
        data = torch.as_tensor(X, dtype=torch.float32)
        self.loss_curve_ = []
        for _ in range(self.epochs):
            order, total = torch.randperm(len(data), generator=gen), 0.0
            for start in range(0, len(data), self.batch_size):
                batch = data[order[start:start + self.batch_size]]
                loss = ((self.decoder_(self.encoder_(batch)) - batch) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            self.loss_curve_.append(total / len(data))
        return self

    def save(self, path) -> None:
        torch.save({"bottleneck": self.bottleneck, "hidden": self.hidden, "n_inputs": self.encoder_[0].in_features,
                    "encoder": self.encoder_.state_dict(), "decoder": self.decoder_.state_dict()}, path)

    @classmethod
    def load(cls, path) -> "PatternAutoencoder":
        state = torch.load(path, weights_only=True)
        ae = cls(state["bottleneck"], hidden=state["hidden"])
        ae.encoder_, ae.decoder_ = _autoencoder(state["n_inputs"], state["hidden"], state["bottleneck"])
        ae.encoder_.load_state_dict(state["encoder"])
        ae.decoder_.load_state_dict(state["decoder"])
        return ae

    @torch.no_grad()
    def transform(self, X: np.ndarray) -> np.ndarray:
        """[rows, pairs] → [rows, bottleneck]"""
        return self.encoder_(torch.as_tensor(X, dtype=torch.float32)).numpy()

    @torch.no_grad()
    def row_errors(self, X: np.ndarray) -> np.ndarray:
        """Each row's reconstruction MSE (how far a head's prompt lies outside what the model learnt).  → [rows]"""
        x = torch.as_tensor(X, dtype=torch.float32)
        return ((self.decoder_(self.encoder_(x)) - x) ** 2).mean(dim=1).numpy()

    @torch.no_grad()
    def reconstruction_mse(self, X: np.ndarray, target: np.ndarray | None = None) -> float:
        """MSE of the reconstruction of ``X`` against ``target`` (default ``X``)."""
        x = torch.as_tensor(X, dtype=torch.float32)
        y = x if target is None else torch.as_tensor(target, dtype=torch.float32)
        return float(((self.decoder_(self.encoder_(x)) - y) ** 2).mean())


def aic_paper(bottleneck, mse):
    """The paper's criterion, 2k - 2 ln(MSE) with k = bottleneck width (Table 1). Always favours small k."""
    return 2 * np.asarray(bottleneck, dtype=float) - 2 * np.log(np.asarray(mse, dtype=float))


def gaussian_information_criteria(mse, n_params, n_values) -> tuple[np.ndarray, np.ndarray]:
    """(AIC, BIC) of a Gaussian residual model with variance MSE over ``n_values`` held-out values."""
    mse, k = np.asarray(mse, dtype=float), np.asarray(n_params, dtype=float)
    minus_2_loglik = n_values * (np.log(2 * np.pi * mse) + 1)
    return 2 * k + minus_2_loglik, k * np.log(n_values) + minus_2_loglik


def pair_importance(model: PatternAutoencoder, X: np.ndarray, seed: int = 0) -> np.ndarray:
    """MSE of reconstructing ``X`` when one input column at a time is replaced by U(0, 1) noise (Fig. 1).

    [rows, pairs] → [pairs]; the authors' cluster.R perturbation, compared against the unperturbed input.
    """
    rng = np.random.default_rng(seed)
    out = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        noisy = X.copy()
        noisy[:, j] = rng.uniform(0, 1, len(X))
        out[j] = model.reconstruction_mse(noisy, X)
    return out


def sweep_bottlenecks(rows: np.ndarray, bottlenecks, heldout_fraction: float = 0.1, seed: int = 0,
                      workers: int | None = None, **ae_kwargs) -> tuple[list[dict], dict[int, PatternAutoencoder]]:
    """Fit one autoencoder per bottleneck on the same training rows, over ``workers`` processes (default every
    core: one fit is too small to use two); score all on the same held-out rows.

    Returns the ``aic.csv`` rows and the fitted models. Held-out rows: a seeded random ``heldout_fraction``.
    """
    rng = np.random.default_rng(seed)
    is_heldout = rng.random(len(rows)) < heldout_fraction
    train, test = rows[~is_heldout], rows[is_heldout]
    bottlenecks = list(bottlenecks)
    models, table = {}, []
    fitted = parallel_map(partial(_fit, train, seed, ae_kwargs), bottlenecks, workers)  # each seeded: any process
    for b, ae in zip(bottlenecks, fitted):
        models[b] = ae
        table.append({"bottleneck": b, "n_params": ae.n_params_, "train_mse": ae.loss_curve_[-1], "mse": ae.reconstruction_mse(test)})
    mse = np.array([r["mse"] for r in table])
    aic, bic = gaussian_information_criteria(mse, [r["n_params"] for r in table], test.size)
    paper = aic_paper([r["bottleneck"] for r in table], mse)
    for r, a, b, p in zip(table, aic, bic, paper):
        r.update(aic_paper=p, aic=a, bic=b, n_heldout_values=test.size)
    for column in ("aic_paper", "aic", "bic"):
        best = min(table, key=lambda r: r[column])["bottleneck"]
        for r in table:
            r[f"picked_by_{column}"] = r["bottleneck"] == best
    return table, models


def _fit(train: np.ndarray, seed: int, ae_kwargs: dict, bottleneck: int) -> PatternAutoencoder:
    return PatternAutoencoder(bottleneck, random_state=seed, **ae_kwargs).fit(train)


# ---------------------------------------------------------------- step

def step(ctx) -> None:
    from analyze.phrenology import plots

    run, cfg, out = ctx.run, ctx.cfg, ctx.out
    patterns, ids = run.patterns, run.head_ids
    rows = token_pair_rows(patterns)  # [head*prompt, 136]
    table, models = sweep_bottlenecks(rows, cfg.bottlenecks, cfg.ae_heldout, cfg.seed, hidden=cfg.ae_hidden,
                                      epochs=cfg.ae_epochs, batch_size=cfg.ae_batch_size,
                                      lr=cfg.ae_lr)
    pd.DataFrame(table).to_csv(out / "aic.csv", index=False)
    chosen = min(table, key=lambda r: r[cfg.criterion])["bottleneck"]
    ae = models[chosen]
    codes = ae.transform(rows).reshape(len(ids), patterns.shape[1], chosen)  # [head, prompt, code]
    np.save(out / "codes.npy", codes)
    ae.save(out / "autoencoder.pt")  # analyze compare embeds pretrained heads with it
    sample = rows[np.random.default_rng(cfg.seed).choice(len(rows), min(len(rows), 4096), replace=False)]
    base = ae.reconstruction_mse(sample)
    importance = pair_importance(ae, sample, cfg.seed)
    q, k = np.tril_indices(patterns.shape[-1])
    pd.DataFrame({"query": q, "key": k, "mse": importance, "mse_increase": importance - base}).to_csv(
        out / "pair_importance.csv", index=False)
    grid = np.zeros(patterns.shape[2:])
    grid[q, k] = importance - base
    title = f"MSE increase when a token pair is randomised (bottleneck {chosen}, Fig. 1)"
    ctx.figures.draw(plots.pair_heatmap, grid, title, out / "fig_pair_importance.png", "MSE increase")
    ctx.figures.draw(plots.aic_curves, table, out / "fig_aic.png")
    (out / "chosen_bottleneck.json").write_text(json.dumps({"bottleneck": chosen, "criterion": cfg.criterion}))
