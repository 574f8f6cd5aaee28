"""The calibrated placement (analyze/compare/calibration.py) against known answers: heads of seeds the fleet never
saw are toy-like at about the nominal rate (calibration), heads no toy grows get small p (power), the first-token
sink is removed as defined, and the pooled p-value equals its formula counted by hand."""

import numpy as np
import pytest
from scipy.stats import binom

from analyze.compare import calibration as cal
from analyze.compare.controls import positional_target

N_CTX, PROMPTS = 8, 6
TYPES = ("self", "prev", "uniform", "decay")


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    causal = np.tril(np.ones((N_CTX, N_CTX), dtype=bool))
    z = np.where(causal, logits, -np.inf)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def template(kind: str) -> np.ndarray:
    q, k = np.indices((N_CTX, N_CTX))
    return {"self": np.eye(N_CTX), "prev": np.eye(N_CTX, k=-1), "uniform": np.zeros((N_CTX, N_CTX)),
            "decay": -0.5 * (q - k)}[kind]


def seed_heads(seed: int) -> np.ndarray:
    """One 'trained model': a head of every type, each with this seed's sharpness and per-prompt noise.
    → [head, prompt, q, k]"""
    rng = np.random.default_rng(seed)
    heads = []
    for kind in TYPES:
        beta = rng.uniform(2.0, 4.0)
        logits = beta * template(kind) + 0.7 * rng.standard_normal((PROMPTS, N_CTX, N_CTX))
        heads.append(softmax_rows(logits))
    return np.stack(heads)


def fleet(seeds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    patterns = np.concatenate([seed_heads(s) for s in seeds])
    models = np.repeat([f"m{i:02d}" for i in range(len(seeds))], len(TYPES))
    clusters = np.tile(np.arange(len(TYPES)), len(seeds))
    return patterns.astype(np.float32), models, clusters


def planted(kind: str) -> np.ndarray:
    """A sharp positional head no seed above grows, on every prompt.  → [prompt, q, k]"""
    target = positional_target(kind, N_CTX)
    return np.repeat(softmax_rows(12.0 * target)[None], PROMPTS, axis=0).astype(np.float32)


@pytest.mark.parametrize("space", ["pattern", "pattern_nosink"])
def test_held_out_seeds_are_toy_like_at_the_nominal_rate_and_planted_heads_are_not(space):
    """Failure would be: more held-out heads called unlike the fleet than a 5% rate allows (binomial P < 0.001),
    or far fewer (the test then has no power to spare), or any planted head with p > 0.05."""
    toy, models, clusters = fleet(range(12))  # 48 reference heads: the smallest possible p is 1/49
    held_out = np.concatenate([seed_heads(s) for s in range(1000, 1050)])  # 200 heads of 50 unseen seeds
    positional = np.stack([planted("back:3"), planted("abs:2")])
    result = cal.calibrate(toy, models, clusters, {"held_out": held_out, "planted": positional}, None, (space,))
    p = result.p_values[space]
    rejected = int((p["held_out"] <= cal.ALPHA).sum())
    assert binom.sf(rejected - 1, len(held_out), cal.ALPHA) > 1e-3, rejected  # not too many
    assert binom.cdf(rejected, len(held_out), cal.ALPHA) > 1e-3, rejected  # not too few
    assert p["planted"].max() <= cal.ALPHA and p["planted"].min() == pytest.approx(1 / 49)
    # the fleet's own heads, each against the rest of the reference, spread over (0, 1]
    assert 0.3 < np.median(result.toy_p[space]) < 0.7


def test_a_head_far_in_a_cluster_direction_is_not_toy_like():
    """The permutation test this replaces passed a head far out along a cluster's direction from the fleet's mean;
    the calibrated test must not: failure would be p > 0.05 for a prev-token head pushed beyond sharp."""
    toy, models, clusters = fleet(range(12))
    mean_prev = toy[clusters == 1].mean(axis=0)
    mean_all = toy.mean(axis=0)
    far = (mean_all + 4.0 * (mean_prev - mean_all))[None]  # off the simplex, 4x as far out as the cluster
    result = cal.calibrate(toy, models, clusters, {"far": far, "centre": mean_prev[None]}, None, ("pattern",))
    assert result.p_values["pattern"]["far"][0] <= cal.ALPHA
    assert result.p_values["pattern"]["centre"][0] > 0.5  # the cluster's own centre: as toy-like as it gets
    assert result.nearest_cluster["pattern"]["far"][0] == 1


def test_pooled_p_value_is_its_formula_counted_by_hand():
    rng = np.random.default_rng(3)
    reference = [rng.random(4), rng.random(3), rng.random(5)]
    query = [rng.random(2), rng.random(2), rng.random(2)]
    got = cal.pooled_p_values(reference, query)
    for j in range(2):
        hits = sum(int(r >= q[j]) for ref, q in zip(reference, query) for r in ref)
        assert got[j] == pytest.approx((1 + hits) / (1 + 12))


def test_sink_removal_drops_the_first_key_and_renormalises():
    """A previous-token head that parks 90% of every row on token 0 is a clean previous-token head without it;
    a head with everything on token 0 becomes uniform (it expressed no other preference)."""
    prev = softmax_rows(30.0 * template("prev"))
    sunk = 0.1 * prev
    sunk[:, 0] += 0.9
    all_sink = np.zeros((N_CTX, N_CTX))
    all_sink[:, 0] = 1.0
    out = cal.without_sink(np.stack([sunk, all_sink])[:, None])  # [2, 1, 7, 7]
    assert out.shape == (2, 1, N_CTX - 1, N_CTX - 1)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 0, 1:], np.eye(N_CTX - 1, k=-1)[1:], atol=1e-6)  # query 2.. → previous key
    np.testing.assert_allclose(out[1, 0], np.tril(np.ones((7, 7))) / np.arange(1, 8)[:, None], atol=1e-6)


def test_the_sink_decides_raw_placement_but_not_the_sink_removed_one():
    """A toy-like previous-token head with 80% of its attention moved to the first token (what real LMs do):
    on raw patterns it is unlike every toy head; with the sink removed it is toy-like again."""
    toy, models, clusters = fleet(range(12))
    head = seed_heads(2024)[1].copy()  # a previous-token head of an unseen seed
    sunk = 0.2 * head
    sunk[:, :, 0] += 0.8
    spaces = ("pattern", "pattern_nosink")
    result = cal.calibrate(toy, models, clusters, {"sunk": sunk[None]}, None, spaces)
    assert result.p_values["pattern"]["sunk"][0] <= cal.ALPHA
    assert result.p_values["pattern_nosink"]["sunk"][0] > cal.ALPHA
    assert result.nearest_cluster["pattern_nosink"]["sunk"][0] == 1


def test_code_space_folds_an_alien_head_in_and_only_its_reconstruction_error_shows_it():
    """In code space every fold's autoencoder is fitted without the left-out model, so held-out seeds stay toy-like.
    But an autoencoder fitted on toy heads maps a head it cannot represent onto the toy manifold: the planted
    "always position 2" head gets a toy-like p in code space, a small p in pattern space, and a reconstruction error
    far beyond every toy head's held-out error. That is why the headline is a pattern space (docs/toy_vs_pretrained.md)."""
    toy, models, clusters = fleet(range(8))
    held_out = np.concatenate([seed_heads(s) for s in range(2000, 2004)])
    positional = np.stack([planted("back:3"), planted("abs:2")])
    settings = cal.AutoencoderSettings(bottleneck=4, hidden=32, epochs=30, batch_size=64, lr=3e-3)
    result = cal.calibrate(toy, models, clusters, {"held_out": held_out, "planted": positional}, settings,
                           ("code", "pattern"), workers=1)
    code, pattern = result.p_values["code"], result.p_values["pattern"]
    assert (code["held_out"] <= cal.ALPHA).sum() <= 2  # of 16: P(X >= 3) = 0.04 at a 5% rate
    assert code["planted"][1] > cal.ALPHA >= pattern["planted"].max()  # folded in / caught
    folds = result.folds["code"]
    assert folds.query_recon["planted"].min() > 3 * folds.toy_recon.max()
    assert folds.query_recon["held_out"].max() < 2 * folds.toy_recon.max()


def test_wilson_interval_and_binomial_tail():
    low, high = cal.wilson_interval(19, 20)
    assert low == pytest.approx(0.7639, abs=1e-3) and high == pytest.approx(0.9911, abs=1e-3)
    assert cal.binomial_tail(5, 24, 0.05) == pytest.approx(binom.sf(4, 24, 0.05))
