"""The phrenology pipeline's one config object (Attention Phrenology; configs/phrenology.yaml spells out the defaults)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from train.config import ConfigError

log = logging.getLogger(__name__)

MIN_PROMPTS = 64  # below this the autoencoder's held-out set and the head vectors are too small to trust


@dataclass
class PhrenologyConfig:
    # --- prompts (§2.1.3; authors' corpus_for_analysis.py) ---
    prompts: int = 1024
    prompt_seed: int = 9992
    batch_size: int = 256
    # --- projections (§2.1.5; authors' um.py) ---
    umap_neighbors: int = 5
    umap_min_dist: float = 0.1
    tsne_perplexity: float = 5.0
    pca_components: int = 5
    pca_prompts: int = 8
    first_token_prompts: int = 64
    # --- autoencoder (§2.2.1; see analyze/phrenology/autoencoder.py) ---
    bottlenecks: list = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])
    ae_hidden: int = 128
    ae_epochs: int = 4  # authors: 10,000 keras epochs; a few passes over 73,728 rows already converge far
    ae_batch_size: int = 256
    ae_lr: float = 2e-3
    ae_heldout: float = 0.1
    criterion: str = "bic"  # picks the bottleneck: bic (default, see autoencoder.py), aic (Gaussian), paper
    # --- clustering (§2.2.2) ---
    knn_k: int = 9  # as the authors' get.knn: k counts the head itself
    knn_weighted: bool = False  # authors' get.knn weighted edges by distance; see analyze/phrenology/cluster.py
    n_gammas: int = 1000
    gamma_min: float = 0.01
    gamma_max: float = 3.0
    # --- knockout (§2.1.8–2.1.9) ---
    knockout_head: str = ""  # default: the first head of the first model
    knockout_prompt: int = 0
    knockout_position: int = -1
    knockout_prompts: int = 64
    knockout_tokens: int = 1000  # probability differences kept on the tokens most likely on average
    # --- beyond the paper ---
    stability_replicates: int = 20
    null_replicates: int = 19  # 19 shuffles: the smallest possible permutation p-value is 1/20 = 0.05
    null_gammas: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.criterion not in ("aic", "bic", "paper"):
            raise ConfigError(f"criterion must be aic, bic or paper, got {self.criterion!r}")
        if self.prompts < 2:
            raise ConfigError(f"prompts must be at least 2 (the paper uses 1024), got {self.prompts}")
        positive = ["batch_size", "pca_components", "pca_prompts", "first_token_prompts", "ae_hidden", "ae_epochs",
                    "ae_batch_size", "knn_k", "n_gammas", "knockout_prompts", "knockout_tokens",
                    "stability_replicates", "null_replicates", "null_gammas"]
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.bottlenecks or any(not isinstance(b, int) or b < 1 for b in self.bottlenecks):
            raise ConfigError(f"bottlenecks must be a list of positive ints, got {self.bottlenecks!r}")
        if not 0 < self.ae_heldout < 1:
            raise ConfigError(f"ae_heldout must be in (0, 1), got {self.ae_heldout}")
        if not 0 < self.gamma_min < self.gamma_max:
            raise ConfigError(f"need 0 < gamma_min < gamma_max, got {self.gamma_min}, {self.gamma_max}")

    def warnings(self) -> list[str]:
        """Settings that run but give numbers too thin to read; the CLI logs them and the report shows them."""
        out = []
        if self.prompts < MIN_PROMPTS:
            out.append(f"only {self.prompts} prompts (paper: 1024; at least {MIN_PROMPTS} advised): the autoencoder "
                       f"is scored on about {max(1, round(self.prompts * self.ae_heldout))} prompts per head, so the "
                       f"bottleneck choice and the clusters rest on very few values")
        return out
