"""Regenerate the README's page screenshots in headless Chromium (Debian's chromium and chromium-driver):
``python -m docs.screenshots --phrenology runs/phrenology/demo --probes runs/probes/SmolLM2-135M-Instruct``.

The phrenology page with a head of the cluster every model shares hovered and opened, and the probes page's
layer × head grid with its best previous-token head opened: what a researcher sees first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analyze.phrenology.run import PhrenologyRun
from docs.browser import Page, start_browser

OUT = Path(__file__).parent / "screens"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--phrenology", type=Path, required=True)
    parser.add_argument("--probes", type=Path, required=True)
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    driver = start_browser()
    try:
        page = Page(driver, args.phrenology / "report.html")
        run = PhrenologyRun(args.phrenology)
        shared, clusters = run.findings["shared_clusters"], run.clusters
        pick = clusters[clusters.cluster == shared[0]["cluster"]].head_id.iloc[0] if shared else clusters.head_id[0]
        offset = page.point_offset("projection", pick)
        page.hover("projection", offset)
        page.screenshot(OUT / "phrenology_head.png", "projection")  # the projection beside the hover box
        frame = pd.read_csv(args.probes / "probes.csv")
        best = frame.loc[frame.prev_token.idxmax()]
        page = Page(driver, args.probes / "report.html")
        page.click("grid", page.cell_offset("grid", int(best["layer"]), int(best["head"])))
        page.screenshot(OUT / "probes_grid.png", "grid", around="self")
        page.screenshot(OUT / "probes_head.png", "head-panel", around="self")
        print(f"screenshots of {pick} and {best.head_id} in {OUT}: "
              + ", ".join(f"{p.name} {p.stat().st_size / 1e3:.0f} kB" for p in sorted(OUT.glob('*.png'))))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
