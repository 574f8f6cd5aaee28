"""The report pages in a real browser (headless Chromium): they open from file:// with no request to the network
and no console error, hovering a head shows that head, and clicking it draws its pattern with the prompt's tokens.
Also, without a browser: the data a page carries is the run's own data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyze.__main__ import main
from analyze.core.page import decode_unit, read_page_data
from analyze.phrenology.run import PhrenologyRun
from docs.browser import Page
from tests.helpers import assert_offline_and_clean, isolated_point

SMALL = ["prompts=48", "bottlenecks=[2,4]", "ae_epochs=2", "n_gammas=40", "stability_replicates=2",
         "null_replicates=2", "null_gammas=20", "knockout_prompts=8", "knockout_tokens=100", "first_token_prompts=16"]
SHOTS = Path(os.environ.get("TOYHEADS_SCREENSHOTS", "/nonexistent"))  # set it to keep the screenshots


@pytest.fixture(scope="module")
def pages(micro_fleet, nltk_data, cache_dir, tmp_path_factory) -> dict[str, Path]:
    """A phrenology page and a probes page of the session's micro fleet."""
    root = tmp_path_factory.mktemp("pages")
    common = ["--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"]
    assert main(["phrenology", "--fleet", str(micro_fleet[0]), "--out", str(root / "phrenology"), *common,
                 *SMALL]) == 0
    assert main(["probes", "--model", str(micro_fleet[0]), "--out", str(root / "probes"), "--prompts", "8",
                 *common]) == 0
    return {"phrenology": root / "phrenology", "probes": root / "probes"}


def test_phrenology_page_carries_the_runs_patterns(pages, micro_fleet):
    run = PhrenologyRun(pages["phrenology"])
    data = read_page_data(pages["phrenology"] / "report.html")
    n = run.patterns.shape[-1]
    for i, h in enumerate(run.head_ids):
        np.testing.assert_allclose(decode_unit(data["patterns"][h][0], (n, n)), run.patterns[i, 0], atol=0.5 / 255)
    clusters = run.cluster_of()
    assert {h["id"]: h["cluster"] for h in data["heads"] if not h["artificial"]} == clusters
    tokens = [json.loads(line)["tokens"] for line in (pages["phrenology"] / "prompts.jsonl").open()][0]
    from train.tokenizer import load_gpt2_tokenizer

    assert "".join(data["prompts"][0]["tokens"]) == load_gpt2_tokenizer().decode(tokens)


@pytest.mark.browser
def test_phrenology_page_hover_and_click_a_head(browser, pages):
    page = Page(browser, pages["phrenology"] / "report.html")
    assert_offline_and_clean(page)
    data = page.data()
    real = [h["id"] for h in data["heads"] if not h["artificial"]]
    head, offset = isolated_point(page, "projection", real)
    page.hover("projection", offset)
    assert page.text("hover-info").splitlines()[0] == head
    page.click("projection", offset)
    assert page.text("head-title") == head
    drawn = page.heatmap_labels()
    tokens = data["prompts"][0]["tokens"]
    assert drawn["y"] == [f"{i}:{t}" for i, t in enumerate(tokens)]  # tokens down the query axis
    assert drawn["x"] == [str(i) for i in range(len(tokens))]  # key positions across, horizontal
    assert head in drawn["title"]
    assert page.console_errors() == []
    if SHOTS.exists():  # the README's screenshot: the projection with this head hovered
        page.hover("projection", offset)
        page.screenshot(SHOTS / "phrenology_head.png", "projection")


@pytest.mark.browser
def test_probes_page_grid_click_and_sort_by_direction(browser, pages):
    frame = pd.read_csv(pages["probes"] / "probes.csv")
    best = frame.loc[frame.prev_token.idxmax()]
    page = Page(browser, pages["probes"] / "report.html")
    assert_offline_and_clean(page)
    browser.execute_script("const s = document.getElementById('model-select'); s.value = arguments[0];"
                           "s.dispatchEvent(new Event('change'))", best.model)
    offset = page.cell_offset("grid", int(best["layer"]), int(best["head"]))
    page.click("grid", offset)
    assert page.text("head-title") == best.head_id
    drawn = page.heatmap_labels()
    tokens = page.data()["sample_tokens"][best.model]["brown"][0]
    assert drawn["y"] == [f"{i}:{t}" for i, t in enumerate(tokens)] and "Brown" in drawn["title"]
    assert page.console_errors() == []
    if SHOTS.exists():
        page.screenshot(SHOTS / "probes_grid.png", "grid", around="self")


def test_notebook_view_shows_the_runs_pattern(pages):
    from analyze.view import ViewError, open_run

    run = PhrenologyRun(pages["phrenology"])
    view = open_run(pages["phrenology"])
    head = run.head_ids[1]
    shown = view.head(head, prompt=1)
    np.testing.assert_allclose(shown.pattern, run.patterns[1, 1], atol=0.5 / 255)
    assert shown.facts["cluster"] == run.cluster_of()[head]
    html = shown._repr_html_()
    assert f"<h4>{head}</h4>" in html and "data:image/png;base64," in html
    probes = open_run(pages["probes"]).head(head)
    scores = pd.read_csv(pages["probes"] / "probes.csv").set_index("head_id").loc[head]
    assert probes.facts["prev_token"] == pytest.approx(scores.prev_token)
    with pytest.raises(ViewError, match="no head 'm09.L0H0'"):
        view.head("m09.L0H0")


def test_scaled_encodings_round_trip_within_half_a_step():
    from analyze.core.page import decode_scaled, encode_scaled

    values = np.random.default_rng(0).normal(size=(9, 9)) * 3
    for bits, levels in ((8, 255), (4, 15)):
        back = decode_scaled(encode_scaled(values, bits)).reshape(values.shape)
        assert np.abs(back - values).max() <= (values.max() - values.min()) / levels / 2 + 1e-12
