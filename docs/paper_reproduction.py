"""Regenerate the figures of ``docs/paper_reproduction.md`` from a trained paper fleet and its phrenology run:
``python -m docs.paper_reproduction [--fleet checkpoints/paper] [--run runs/phrenology/paper] [--figures DIR]``.

Copies the paper's figures (2, 4, 5, 6, 8, 9, 12) into ``docs/paper/`` at a small size, draws the nine loss
curves, and prints Table 1, the clustering and its null, so the document can be checked against its sources.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analyze.core.figures import group_colors, plt, save_figure
from analyze.phrenology.run import PhrenologyRun
from train.corpus import PROJECT_ROOT
from train.record import FleetRecord

FIGURES = {"fig_distances_cluster_order.png": "fig2_distances.png", "fig_sweep.png": "fig4_sweep.png",
           "fig_clusters.png": "fig5_clusters.png", "fig_cluster_patterns.png": "fig6_cluster_patterns.png",
           "fig_embeddings.png": "fig8_embeddings.png", "fig_pca_components.png": "fig9_pca_components.png",
           "fig_knockout_head.png": "fig12_knockout.png", "fig_aic.png": "table1_criteria.png"}
OUT = Path(__file__).parent / "paper"


def shrink(src: Path, dst: Path, width: int = 1100) -> None:
    """Copy a PNG, scaled down to ``width`` pixels when wider (keeps the docs folder small)."""
    image = plt.imread(src)
    height, wide = image.shape[:2]
    scale = min(1.0, width / wide)
    fig = plt.figure(figsize=(wide * scale / 100, height * scale / 100), dpi=100)
    fig.figimage(image, resize=True)
    fig.savefig(dst, dpi=100)
    plt.close(fig)


def loss_curves(fleet: Path, path: Path) -> Path:
    models = FleetRecord.read(fleet).models
    names = [m.name for m in models]
    colors = group_colors(names)
    fig, (train_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    for m, name, color in zip(models, names, colors):
        metrics = pd.read_csv(fleet / m.dir / "metrics.csv")
        train = metrics.dropna(subset=["train_loss"])
        val = metrics.dropna(subset=["val_loss"])
        train_ax.plot(train.step, train.train_loss.rolling(10, min_periods=1).mean(), color=color, lw=0.8, label=name)
        val_ax.plot(val.step, val.val_loss, "o-", color=color, ms=3, lw=0.8, label=name)
    train_ax.set_title("training loss (running mean of 10 logged steps)", fontsize=9)
    val_ax.set_title("held-out loss after each epoch (1,024 windows)", fontsize=9)
    for ax in (train_ax, val_ax):
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats)")
    val_ax.legend(fontsize=7, ncol=3)
    return save_figure(fig, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.paper_reproduction", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=PROJECT_ROOT / "checkpoints" / "paper")
    parser.add_argument("--run", type=Path, default=PROJECT_ROOT / "runs" / "phrenology" / "paper")
    parser.add_argument("--figures", type=Path, default=OUT,
                        help="where the small PNGs go (default: docs/paper; another folder leaves the published ones)")
    args = parser.parse_args(argv)
    args.figures.mkdir(parents=True, exist_ok=True)
    for src, dst in FIGURES.items():
        shrink(args.run / src, args.figures / dst)
    loss_curves(args.fleet, args.figures / "loss_curves.png")
    run = PhrenologyRun(args.run)
    print(run.aic_table[["bottleneck", "mse", "aic_paper", "aic", "bic"]].to_string(index=False))
    print(run.best.to_frame().T.to_string(index=False))
    print(run.null_verdict["statement"])
    print(f"figures in {args.figures}: {sum(p.stat().st_size for p in args.figures.glob('*.png')) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
