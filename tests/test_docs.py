"""Known answers for the docs' own analysis helpers."""

import numpy as np
import pytest

from docs.precision_twins import twin_table


def softmax_rows(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_twin_heads_are_found_nearest_and_a_swapped_pair_is_not():
    """Fleet B repeats fleet A's model m00 with small noise, except that two of its heads swap places: those two
    find a non-twin nearest (each other's twin), the others find their twin."""
    rng = np.random.default_rng(0)
    a = softmax_rows(3 * rng.normal(size=(6, 20, 8, 8)))
    ids_a = [f"m{m:02d}.L0H{h}" for m in range(2) for h in range(3)]
    b = softmax_rows(np.log(a[:3]) + 0.05 * rng.normal(size=(3, 20, 8, 8)))
    b[[0, 1]] = b[[1, 0]]
    table = twin_table(a, ids_a, b, ids_a[:3])
    assert table.twin_is_nearest.tolist() == [False, False, True]
    assert table.nearest_other.tolist()[:2] == ["m00.L0H1", "m00.L0H0"]
    direct = np.linalg.norm((b[2] - a[2]).ravel())  # the phrenology distance written out
    assert np.isclose(table.twin_distance[2], direct)
    assert table.twin_distance[2] < table.nearest_other_distance[2]


def test_a_head_without_twin_is_refused_in_one_line():
    patterns = softmax_rows(np.random.default_rng(1).normal(size=(2, 3, 4, 4)))
    with pytest.raises(ValueError, match="no twin in the reference fleet for m01.L0H0; pass --rename"):
        twin_table(patterns[:1], ["m00.L0H0"], patterns[1:], ["m01.L0H0"])


def test_the_readme_notebook_example_names_heads_the_demo_fleet_has():
    """The README's notebook lines ask for heads of the quickstart's demo fleet: each must exist there (a model
    index below the demo's n, a head below its n_heads, layer 0 of one layer)."""
    import re
    from pathlib import Path

    from train.config import load_config

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    demo = load_config(root / "configs" / "demo.yaml")
    assert 'open_run("runs/phrenology/demo")' in readme and "--config configs/demo.yaml" in readme
    heads = re.findall(r'run\.head\("m(\d+)\.L(\d+)H(\d+)"', readme)
    assert heads
    for model, layer, head in heads:
        assert int(model) < demo.n and int(layer) < demo.n_layers and int(head) < demo.n_heads, (model, layer, head)


def test_readme_fits_one_screen_and_its_links_resolve():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for target in re.findall(r"\]\(((?:docs|bench|CHANGELOG)[^)#]*)\)", readme):
        assert (root / target).exists(), target
    assert "seed 00" not in readme.lower() and "../shared/seeds" not in readme


def test_aoyama_prediction_and_the_induction_onsets_of_planted_records():
    """Aoyama et al.'s formula gives the issue's 3.2e7 tokens at batch 64 and context 64. Planted two-layer records:
    m00 grows a previous-token head at step 4 and an induction head (L1H0) at step 32; m01 a previous-token head
    only. The onsets table gives m00's step, head, tokens and ratio, and no induction step for m01."""
    from analyze.formation.pipeline import FormationJob, formation
    from docs.head_formation import aoyama_onset_tokens, induction_onsets
    from tests.analyze.test_formation import N_CTX, planted_record

    assert aoyama_onset_tokens(64, 64) == pytest.approx(3.2e7, rel=0.01)
    assert aoyama_onset_tokens(16, 64) == pytest.approx(aoyama_onset_tokens(64, 64) / 2)
    records = {"m00": planted_record({(0, "prev_token"): 4, (1, "induction"): 32}),
               "m01": planted_record({(0, "prev_token"): 8})}
    result = formation(records, 2, 1, N_CTX, FormationJob(out=None))
    onsets = induction_onsets(result, batch_size=8, n_ctx=64).set_index("model")
    assert onsets.loc["m00", "induction step"] == 32 and onsets.loc["m00", "head"] == "L1H0"
    assert onsets.loc["m00", "previous-token step"] == 4
    assert onsets.loc["m00", "tokens"] == 32 * 8 * 64
    assert onsets.loc["m00", "tokens / predicted"] == pytest.approx(32 * 8 * 64 / (10 ** 5.7 * np.sqrt(8 * 64)))
    assert np.isnan(onsets.loc["m01", "induction step"]) and onsets.loc["m01", "previous-token step"] == 8
