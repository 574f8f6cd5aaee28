"""``analyze formation``: planted score curves give back their planted emergence steps, orders, plateaus and
back-tracking; on the micro fleet the outputs are its records; a fleet without records is one line."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analyze.__main__ import main
from analyze.core.page import decode_unit, read_page_data
from analyze.formation import emergence as em
from analyze.formation.pipeline import FormationJob, formation
from docs.browser import Page
from tests.helpers import assert_offline_and_clean
from train.formation import RECORD_FILE, SCORES, HeadRecord

STEPS = np.array([0, 1, 2, 4, 8, 16, 32, 64])
N_CTX = 16


def planted_record(crossings: dict[tuple[int, str], int], n_heads: int = 2, dips: dict | None = None,
                   loss: np.ndarray | None = None) -> HeadRecord:
    """A record whose head h scores 3 × chance on a type from step ``crossings[(h, type)]`` on, 1 × before."""
    chance = em.chance_values(N_CTX)
    scores = np.zeros((len(STEPS), n_heads, len(SCORES)), np.float32)
    for t, name in enumerate(SCORES):
        if name in chance:
            scores[:, :, t] = chance[name]
    for (h, name), step in crossings.items():
        scores[STEPS >= step, h, SCORES.index(name)] = 3 * chance[name]
    for (h, name, step), value in (dips or {}).items():
        scores[STEPS == step, h, SCORES.index(name)] = value * chance[name]
    loss = np.linspace(10, 6, len(STEPS)) if loss is None else loss
    return HeadRecord(STEPS.copy(), loss, scores, np.zeros((len(STEPS), n_heads, N_CTX, N_CTX), np.float32))


def test_planted_crossings_give_their_steps_order_and_spread():
    records = {"m00": planted_record({(0, "self"): 8, (1, "prev_token"): 16}),
               "m01": planted_record({(1, "self"): 4, (0, "prev_token"): 4}),
               "m02": planted_record({(0, "prev_token"): 2})}
    result = formation(records, 1, 2, N_CTX, FormationJob(out=None))
    got = result.emergence.set_index(["model", "type"])
    assert got.loc[("m00", "self"), "step"] == 8 and got.loc[("m00", "self"), "head"] == "L0H0"
    assert got.loc[("m01", "self"), "head"] == "L0H1"
    assert np.isnan(got.loc[("m02", "self"), "step"])  # never crossed: no step, and no head
    summary = result.summary.set_index("type")
    assert summary.loc["self", "seeds_grown"] == 2 and summary.loc["self", "median"] == 6
    assert summary.loc["prev_token", "median"] == 4 and summary.loc["prev_token", "first"] == 2
    assert summary.loc["prev_token", "spread_octaves"] == pytest.approx(np.log2(17 / 3))
    assert result.order.set_index("model")["order"].to_dict() == {
        "m00": "self < prev_token", "m01": "prev_token = self", "m02": "prev_token"}
    pairs = em.pairwise_order(result.emergence).set_index(["first", "second"])
    assert pairs.loc[("self", "prev_token")].tolist() == [2, 1, 1, 0]  # m02 lacks self: it says nothing
    assert ("self", "induction") not in pairs.index  # no seed grows both


def test_a_head_just_below_k_times_chance_never_counts_until_k_is_lowered():
    """The planted negative: a head at 1.9 × chance is no head of the type at k = 2, and is one at k = 1.5."""
    record = planted_record({})
    record.scores[STEPS >= 8, 0, SCORES.index("induction")] = 1.9 * em.chance_values(N_CTX)["induction"]
    strict = formation({"m00": record}, 1, 2, N_CTX, FormationJob(out=None, k=2.0)).emergence
    loose = formation({"m00": record}, 1, 2, N_CTX, FormationJob(out=None, k=1.5)).emergence
    assert np.isnan(strict.set_index("type").loc["induction", "step"])
    assert loose.set_index("type").loc["induction", "step"] == 8


def test_backtracking_finds_the_head_that_took_over_a_role():
    """In m01 head 1 is the first self head (step 4) but loses it at step 16; head 0 shows it from 32 and ends in
    the self cluster: it took its final type at 32 and was not its model's first."""
    records = {"m00": planted_record({(0, "self"): 8}),
               "m01": planted_record({(1, "self"): 4, (0, "self"): 32},
                                     dips={(1, "self", 16): 1.0, (1, "self", 32): 1.0, (1, "self", 64): 1.0})}
    clusters = {"m00.L0H0": 0, "m01.L0H0": 0, "m00.L0H1": 1, "m01.L0H1": 1}
    result = formation(records, 1, 2, N_CTX, FormationJob(out=None), clusters)
    rows = result.backtrack.set_index("head_id")
    assert set(rows.index) == {"m00.L0H0", "m01.L0H0"}  # cluster 1 ends at chance: no type, no rows
    assert (rows["type"] == "self").all()
    assert rows.loc["m00.L0H0", "final_type_from"] == 8 and rows.loc["m00.L0H0", "was_first"]
    assert rows.loc["m01.L0H0", "final_type_from"] == 32 and rows.loc["m01.L0H0", "model_first_step"] == 4
    assert rows.loc["m01.L0H0", "model_first_head"] == "m01.L0H1" and not rows.loc["m01.L0H0", "was_first"]
    kept = result.emergence.set_index(["model", "type"])["first_head_at_end"]
    assert kept[("m00", "self")] and not kept[("m01", "self")]  # m01's first self head lost the role


def test_a_plateau_and_a_rise_are_found_and_a_type_at_the_plateau_end_coincides():
    loss = np.array([10.8, 10.0, 8.0, 7.9, 7.85, 6.0, 5.5, 5.6])  # fast, flat over 2-8, fast again, then a rise
    events = em.loss_events(STEPS, loss)
    assert events[["kind", "start", "end"]].values.tolist() == [["plateau", 2, 8], ["rise", 32, 64],
                                                                 ["final plateau", 16, 64]]  # slow from 16 on
    table = pd.DataFrame([{"type": "self", "step": 8, "head": "L0H0"}, {"type": "prev_token", "step": 1,
                                                                          "head": "L0H1"}])
    hits = em.coincidences(events, table, STEPS)
    assert hits[["kind", "type"]].values.tolist() == [["plateau", "self"]]


def test_formation_of_the_micro_fleet_is_its_records(micro_fleet, tmp_path):
    fleet, _ = micro_fleet
    out = tmp_path / "formation"
    assert main(["formation", "--fleet", str(fleet), "--out", str(out), "--k", "1.1", "--no-progress"]) == 0
    curves = pd.read_csv(out / "curves.csv")
    record = HeadRecord.read(fleet / "model_01" / RECORD_FILE)
    mine = curves[curves.model == "m01"].sort_values(["step", "head"])
    np.testing.assert_allclose(mine[list(SCORES)].to_numpy().reshape(record.scores.shape), record.scores, rtol=1e-6)
    # each type's emergence step, computed again from the CSV: the first step any head reaches 1.1 x chance
    chance = em.chance_values(16)
    table = pd.read_csv(out / "emergence.csv").set_index(["model", "type"])
    for (model, name), row in table.iterrows():
        above = curves[(curves.model == model) & (curves[name] >= 1.1 * chance[name])]
        expected = above.step.min() if len(above) else np.nan
        assert (np.isnan(expected) and np.isnan(row.step)) or row.step == expected, (model, name)
    data = read_page_data(out / "report.html")
    head = next(h for h in data["heads"] if h["id"] == "m01.L0H1")
    np.testing.assert_allclose(decode_unit(head["patterns"][5], (16, 16)), record.patterns[5, 1], atol=0.5 / 255)


def test_final_clusters_from_a_phrenology_run_are_traced_back_and_another_fleets_are_refused(micro_fleet, tmp_path,
                                                                                          capsys):
    """clusters.csv of a run of this fleet: every head of a typed cluster gets a row (known here: the types are
    recomputed from curves.csv); a clusters.csv of other heads is one line naming it."""
    run = tmp_path / "phrenology"
    run.mkdir()
    ids = [f"m0{m}.L0H{h}" for m in (0, 1) for h in (0, 1)]
    pd.DataFrame({"head_id": ids, "cluster": [0, 1, 0, 1]}).to_csv(run / "clusters.csv", index=False)
    out = tmp_path / "formation"
    assert main(["formation", "--fleet", str(micro_fleet[0]), "--out", str(out), "--k", "1.05", "--phrenology-dir",
                 str(run), "--no-progress"]) == 0
    curves = pd.read_csv(out / "curves.csv")
    final = curves[curves.step == curves.step.max()].set_index("head_id")
    chance = em.chance_values(16)
    expected = set()
    for cluster, members in ((0, ["m00.L0H0", "m01.L0H0"]), (1, ["m00.L0H1", "m01.L0H1"])):
        ratios = {t: final.loc[members, t].mean() / (1.05 * chance[t]) for t in em.TYPES}
        if max(ratios.values()) >= 1:
            expected |= set(members)
    assert expected and set(pd.read_csv(out / "backtrack.csv").head_id) == expected
    pd.DataFrame({"head_id": ["m07.L0H0"], "cluster": [0]}).to_csv(run / "clusters.csv", index=False)
    assert main(["formation", "--fleet", str(micro_fleet[0]), "--out", str(out), "--phrenology-dir", str(run),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a phrenology run of this fleet" in err[0]


def test_a_fleet_without_records_is_one_line_naming_the_fix(micro_fleet, tmp_path, capsys):
    copy = tmp_path / "old"
    shutil.copytree(micro_fleet[0], copy)
    for path in copy.glob(f"model_*/{RECORD_FILE}"):
        path.unlink()
    assert main(["formation", "--fleet", str(copy), "--out", str(tmp_path / "f"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no head records" in err[0] and "python -m train fleet" in err[0]


@pytest.mark.browser
def test_hovering_a_curve_point_shows_that_heads_pattern_at_that_step(browser, micro_fleet, tmp_path):
    out = tmp_path / "formation"
    assert main(["formation", "--fleet", str(micro_fleet[0]), "--out", str(out), "--no-progress"]) == 0
    page = Page(browser, out / "report.html")
    assert_offline_and_clean(page)
    records = {m: HeadRecord.read(micro_fleet[0] / f"model_0{m}" / RECORD_FILE) for m in (0, 1)}
    self_scores = np.stack([records[m].scores[:, h, 0] for m in (0, 1) for h in (0, 1)])  # [curve, step]
    gaps = np.sort(np.abs(self_scores - self_scores[2]), axis=0)[1]  # m01.L0H0 to its nearest other curve
    head, k = "m01.L0H0", int(np.argmax(gaps))  # the step where it stands furthest from every other curve
    offset = tuple(page.driver.execute_script("""
        const gd = document.getElementById("curves");
        const trace = gd._fullData.find(t => t.name === arguments[0]);
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        return [Math.round(xa._offset + xa.l2p(xa.d2l(trace.x[arguments[1]])) - r.width / 2),
                Math.round(ya._offset + ya.l2p(trace.y[arguments[1]]) - r.height / 2)];""", head, k))
    page.hover("curves", offset)
    record = records[1]
    lines = page.text("hover-info").splitlines()
    assert lines[0] == head and lines[1].startswith(f"step {record.steps[k]}")
    shown = page.driver.execute_script("""
        const gd = document.querySelector("#hover-info .js-plotly-plot");
        return gd.data[0].z;""")
    expected = record.patterns[k, 0]
    np.testing.assert_allclose([[v if v is not None else 0 for v in row] for row in shown],
                               np.tril(expected), atol=0.5 / 255)
    assert page.console_errors() == []
