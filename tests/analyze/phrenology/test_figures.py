"""Figures drawn beside the computation (``FigureQueue``): the same PNG bytes as drawn in-process, and a figure
that fails leaves its step unmarked, so the next run redoes it."""

from __future__ import annotations

import numpy as np
import pytest

from analyze.core.figures import FigureQueue
from analyze.phrenology import plots
from analyze.phrenology.cluster import graph_layout, knn_graph
from analyze.phrenology.pipeline import StepMarkers, mark_drawn


def test_a_figure_drawn_in_the_background_is_the_one_drawn_in_process(tmp_path):
    dist = np.random.default_rng(0).random((12, 12))
    labels = [f"m{i // 4}.L0H{i % 4}" for i in range(12)]
    with FigureQueue(background=True) as queue:
        queue.draw(plots.distance_heatmap, dist, labels, "distances", tmp_path / "background.png", [4, 8])
        FigureQueue.wait(queue.handed_over())
    FigureQueue().draw(plots.distance_heatmap, dist, labels, "distances", tmp_path / "here.png", [4, 8])
    assert (tmp_path / "background.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def failing_figure(path):
    raise ValueError(f"cannot draw {path.name}")


def test_a_failing_figure_raises_and_leaves_its_step_unmarked(tmp_path):
    markers = StepMarkers(tmp_path, {"cluster": "k1", "pca": "k2"}, force=False)
    with FigureQueue(background=True) as queue:
        rows = [{"gamma": 0.5, "f_score": 0.4, "precision": 0.5, "recall": 0.3, "n_clusters": 3}]
        queue.draw(plots.sweep_curve, rows, 0.5, tmp_path / "fig_sweep.png")
        drawing = [("pca", 1.0, queue.handed_over())]
        queue.draw(failing_figure, tmp_path / "fig_clusters.png")
        drawing.append(("cluster", 2.0, queue.handed_over()))
        with pytest.raises(ValueError, match="cannot draw fig_clusters.png"):
            mark_drawn(markers, drawing, wait=True)
    assert markers.done("pca") and not markers.done("cluster")


def test_the_graph_figures_layout_is_fixed_by_the_seed():
    graph = knn_graph(np.random.default_rng(0).normal(size=(30, 5)), 5)
    assert np.array_equal(graph_layout(graph, 1), graph_layout(graph, 1))
    assert not np.array_equal(graph_layout(graph, 1), graph_layout(graph, 2))


INTERRUPTED_SCRIPT = """
import sys, time
from analyze.core.figures import FigureQueue
from analyze.core.parallel import parallel_map
from train.errors import run_command

def command():
    with FigureQueue(background=True) as figures:
        figures.draw(time.sleep, 0)  # then idle, waiting for the next figure
        print("started", flush=True)
        parallel_map(time.sleep, [60, 0], workers=2)  # one worker busy, the other idle
    return 0

sys.exit(run_command(command))
"""


def test_ctrl_c_stops_the_workers_and_says_so_in_one_line():
    """Ctrl-C reaches every process of the command (the terminal signals its process group): the workers and the
    figure process exit at once and quietly, and the command prints one line and exits 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED_SCRIPT], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(2)  # one worker inside its task, the other and the figure process waiting for work
    started = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.perf_counter() - started < 10  # not the 60 s the tasks would have run
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["interrupted: stopped by Ctrl-C; what had finished is kept, and the same "
                                        "command reuses it"]
