"""The probes job's one config object; ``key=value`` on the command line overrides any field."""

from __future__ import annotations

from dataclasses import dataclass, field

from train.config import ConfigError


@dataclass
class ProbeConfig:
    prompts: int = 64  # Brown analysis prompts for pattern scores and mean activations
    prompt_seed: int = 9992
    max_seq_len: int = 32  # prompt length: min(this, model n_ctx)
    repeat_prompts: int = 64  # repeated random sequences for duplicate / induction scores
    embedding: str = "auto"  # raw | ee | auto (raw for layer-0 heads, effective embedding after)
    top_heads: int = 3  # heads shown in the report's maps
    semantic_prompts: int = 8  # shuffles of category words, fixed seeds (the L1H5 semantic-head post)
    semantic_len: int = 32  # prompt length: min(this, model n_ctx)
    qk_tokens: str = "brown"  # token set of the QK maps: brown (most frequent Brown tokens) or categories
    qk_token_count: int = 3000  # the L1H5 semantic-head post: the 3000 most frequent tokens
    bag_size: int = 16  # prediction-attention bags: distinct tokens of one Brown window ...
    n_bags: int = 32  # ... from this many held-out windows of 64 tokens
    steer_head: str = ""  # e.g. gpt2.L1H5: write steering.csv for it
    alphas: list = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])
    steer_variant: str = "sym"  # sym: the seed's W_steered = V Λ' V^T; sym+skew: plus the unchanged skew part
    cluster_head: str = ""  # Leiden clusters of its token QK map → token_clusters.csv
    token_graph: str = "map"  # map: Leiden on the symmetrised softmaxed token map (the L1H5 semantic-head post); knn: kNN of its rows
    semantic_head: str = ""  # upstream mean-ablation of its semantic score → upstream_ablation.csv
    token_knn: int = 10
    min_pairs: int = 8  # a word-pair probe with fewer pairs left after filtering is NaN, not a score
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("prompts", "repeat_prompts", "top_heads", "semantic_prompts", "qk_token_count", "bag_size",
                     "n_bags", "token_knn", "min_pairs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        for name in ("max_seq_len", "semantic_len"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 4:
                raise ConfigError(f"{name} must be an int >= 4 (a prompt needs a few tokens for the pattern "
                                  f"scores), got {getattr(self, name)!r}")
        if self.embedding not in ("raw", "ee", "auto"):
            raise ConfigError(f"embedding must be raw, ee or auto, got {self.embedding!r}")
        if self.steer_variant not in ("sym", "sym+skew"):
            raise ConfigError(f"steer_variant must be sym or sym+skew, got {self.steer_variant!r}")
        if self.token_graph not in ("map", "knn"):
            raise ConfigError(f"token_graph must be map or knn, got {self.token_graph!r}")
        if self.qk_tokens not in ("brown", "categories"):
            raise ConfigError(f"qk_tokens must be brown or categories, got {self.qk_tokens!r}")
        if not self.alphas or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in self.alphas):
            raise ConfigError(f"alphas must be a list of numbers, e.g. 0,0.5,1,2; got {self.alphas!r}")
