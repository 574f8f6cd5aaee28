import numpy as np
import pytest

from analyze.phrenology.autoencoder import aic_paper, gaussian_information_criteria, sweep_bottlenecks, token_pair_rows

TABLE_1 = {2: (0.003355, 15.39), 4: (0.003071, 19.57), 8: (0.002481, 27.99), 16: (0.001563, 44.92),
           32: (0.000819, 78.21), 64: (0.000230, 144.75)}


def test_paper_formula_reproduces_table_1():
    bottlenecks = list(TABLE_1)
    values = aic_paper(bottlenecks, [TABLE_1[b][0] for b in bottlenecks])
    # Table 1 prints MSE to 4 significant digits, so the recomputed AIC can differ in the last printed digit
    # (bottleneck 8: 16 - 2 ln(0.002481) = 27.9975, printed 27.99).
    assert np.abs(values - [TABLE_1[b][1] for b in bottlenecks]).max() <= 0.01
    assert bottlenecks[int(np.argmin(values))] == 2  # it always picks the smallest bottleneck


def test_gaussian_criteria_by_hand():
    aic, bic = gaussian_information_criteria([0.01], [10], 100)
    loglik = -0.5 * 100 * (np.log(2 * np.pi * 0.01) + 1)
    assert aic[0] == pytest.approx(20 - 2 * loglik) and bic[0] == pytest.approx(10 * np.log(100) - 2 * loglik)


def test_bic_picks_the_true_latent_dimension():
    """Rows made from a 3-dimensional latent through a nonlinearity, plus noise."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 3))
    x = 0.5 + 0.3 * np.tanh(z @ (rng.standard_normal((3, 24)) / 3)) + 0.05 * rng.standard_normal((3000, 24))
    table, _ = sweep_bottlenecks(x.astype(np.float32), [1, 2, 3, 6, 12], heldout_fraction=0.05, seed=0,
                                 hidden=32, epochs=40, batch_size=64, lr=3e-3)
    picked = {c: next(r["bottleneck"] for r in table if r[f"picked_by_{c}"]) for c in ("bic", "aic", "aic_paper")}
    assert picked["bic"] == 3
    assert picked["aic_paper"] == 1
    mse = [r["mse"] for r in table]
    assert mse[0] > 2 * mse[2]  # too narrow a code loses signal


def test_token_pair_rows_drop_the_upper_triangle():
    patterns = np.random.default_rng(0).random((2, 3, 16, 16)).astype(np.float32)
    rows = token_pair_rows(patterns)
    assert rows.shape == (6, 136)
    assert rows[4, 0] == patterns[1, 1, 0, 0] and rows[4, -1] == patterns[1, 1, 15, 15]
