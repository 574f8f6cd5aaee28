"""Figure primitives shared by every report: one way to save a figure, one colour per group, heatmap grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plt", "save_figure", "group_colors", "legend_for_groups", "heatmap_row"]


def save_figure(fig, path: Path) -> Path:
    """Lay out, write a PNG and close the figure (long titles are wrapped by the caller, never clipped)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def group_colors(labels) -> list:
    """One colour per distinct label, in a stable order (sorted as strings)."""
    uniq = {v: i for i, v in enumerate(sorted(set(labels), key=str))}
    cmap = plt.get_cmap("tab10" if len(uniq) <= 10 else "tab20")
    return [cmap(uniq[v] % cmap.N) for v in labels]


def legend_for_groups(ax, labels, colors, max_entries: int = 12, **kwargs) -> None:
    """One legend entry per group; no legend when there are too many groups to read."""
    color_of = dict(zip(labels, colors))
    if len(color_of) > max_entries:
        return
    handles = [plt.Line2D([], [], ls="", marker="o", color=color_of[g], label=str(g))
               for g in sorted(color_of, key=str)]
    ax.legend(handles=handles, fontsize=7, **kwargs)


def heatmap_row(maps: dict[str, np.ndarray], keys: list[str], labels: list[str], title: str, path: Path,
                signed: bool = True, boundaries=(), xlabel: str = "key token", ylabel: str = "query token") -> Path:
    """One heatmap per key, side by side, with (a sample of) ``labels`` on both axes."""
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        m = maps[key]
        if signed:
            lim = max(float(np.nanmax(np.abs(m))), 1e-9)
            ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        for b in boundaries:
            ax.axhline(b - 0.5, color="k", lw=0.4)
            ax.axvline(b - 0.5, color="k", lw=0.4)
        ax.set_title(f"{key}: {title}", fontsize=9)
        step, across = max(1, len(labels) // 24), max(1, len(labels) // 6)  # horizontal labels: fewer across
        ax.set_xticks(range(0, len(labels), across), labels[::across], fontsize=7)
        ax.set_yticks(range(0, len(labels), step), labels[::step], fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    return save_figure(fig, path)


class FigureQueue:
    """Figures drawn beside the computation: ``draw(function, *args)`` hands a figure function (arrays in, PNG out)
    to a process of its own and returns at once; ``handed_over()`` gives the futures of the figures handed over
    since its last call, and ``wait(futures)`` blocks until they are written and raises the first figure's error
    with its traceback.

    Matplotlib draws on one core: in a phrenology run of the paper fleet its figures took ~9 s of the main
    process, while steps such as the knockout's model passes or UMAP left the second core idle. With
    ``background=False`` (or where fork does not exist) ``draw`` draws at once, in this process."""

    def __init__(self, background: bool = False):
        import multiprocessing

        self._pool = None
        self._pending: list = []
        if background and "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            from analyze.core.parallel import worker_setup

            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=worker_setup)
            self._pool.submit(int).result()  # fork now, while this process is small, not at the first figure

    def draw(self, function, *args, **kwargs) -> None:
        if self._pool is None:
            function(*args, **kwargs)
        else:
            self._pending.append(self._pool.submit(function, *args, **kwargs))

    def handed_over(self) -> list:
        """The figures handed over since the last call (futures), for a caller that waits on them in groups."""
        taken, self._pending = self._pending, []
        return taken

    @staticmethod
    def wait(futures) -> None:
        for future in futures:
            future.result()  # a figure's error, raised here with the worker's traceback

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> "FigureQueue":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(cancel=error is not None)
