"""``report.html`` and figures of a formation run: score curves per head coloured by final cluster (hover a point:
that head's mean pattern at that step), a per-seed timeline of emergence, the held-out loss with its plateaus, and
the tables."""

from __future__ import annotations

from pathlib import Path


from analyze.core.figures import plt, save_figure
from analyze.core.heads import parse_head_id
from analyze.core.html import Section
from analyze.formation import emergence as em

PATTERN_SIDE = 32  # the page carries each recorded pattern's first 32 queries and keys (all of n_ctx 16)
TYPE_COLOURS = {"self": "#1f77b4", "prev_token": "#ff7f0e", "first_token": "#2ca02c", "duplicate_token": "#d62728",
                "induction": "#9467bd"}


def curves_figure(result, path: Path, colour_of: dict[str, str]) -> Path:
    """One panel per type: every head's score over steps (log axis), the threshold dashed."""
    from train.formation import SCORES

    fig, axes = plt.subplots(1, len(em.TYPES), figsize=(3.2 * len(em.TYPES), 3.2), sharex=True)
    for ax, name in zip(axes, em.TYPES):
        t = SCORES.index(name)
        for model, s in result.scores.items():
            x = result.steps[model] + 1
            for h, head in enumerate(result.head_names):
                ax.plot(x, s[:, h, t], color=colour_of.get(f"{model}.{head}", "#999999"), lw=0.7, alpha=0.7)
        ax.axhline(result.thresholds[name], color="k", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel("step + 1", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("score (dashed: k × uniform head)", fontsize=9)
    return save_figure(fig, path)


def timeline_figure(result, path: Path) -> Path:
    """Per seed (rows), the step each type first appears (markers on a log axis)."""
    models = list(result.scores)
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.32 * len(models)))
    for name in em.TYPES:
        rows = result.emergence[(result.emergence["type"] == name) & result.emergence["step"].notna()]
        y = [models.index(m) for m in rows["model"]]
        ax.scatter(rows["step"] + 1, y, color=TYPE_COLOURS[name], label=name.replace("_", " "), s=36,
                   edgecolor="k", lw=0.4)
    ax.set_xscale("log")
    ax.set_xlim(0.8, 1.3 * (max(int(s[-1]) for s in result.steps.values()) + 1))  # also when no type appears
    ax.set_yticks(range(len(models)))
    ax.set_yticklabels(models, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("step + 1 at which the seed's first head shows the type")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return save_figure(fig, path)


def loss_figure(result, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for model, loss in result.loss.items():
        ax.plot(result.steps[model] + 1, loss, lw=1, label=model)
    for _, e in result.events[result.events["kind"] == "plateau"].iterrows():
        ax.axvspan(e["start"] + 1, e["end"] + 1, color="#f0e0a0", alpha=0.25, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("step + 1")
    ax.set_ylabel("held-out loss (nats)")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def page_data(result, job) -> dict:
    from analyze.core.page import encode_unit, frame_json
    from train.formation import SCORES

    heads = []
    for model, s in result.scores.items():
        for h, name in enumerate(result.head_names):
            head = f"{model}.{name}"
            side = min(PATTERN_SIDE, result.patterns[model].shape[-1])
            heads.append({"id": head, "model": model, "cluster": result.clusters.get(head),
                          "layer": parse_head_id(head)[1],
                          "curves": {score: s[:, h, k] for k, score in enumerate(SCORES)},
                          "patterns": [encode_unit(p[:side, :side]) for p in result.patterns[model][:, h]]})
    return {
        "kind": "formation", "types": list(em.TYPES), "scores": list(SCORES), "k": job.k,
        "thresholds": result.thresholds,
        "models": [{"name": m, "steps": result.steps[m], "loss": result.loss[m]} for m in result.scores],
        "heads": heads,
        "emergence": result.emergence.astype(object).where(result.emergence.notna(), None).to_dict("records"),
        "events": result.events.to_dict("records"),
        "tables": {
            "summary": frame_json(result.summary, "When each type appears, across seeds",
                                  f"A seed grows a type at the first recorded step where one of its heads scores at "
                                  f"least {job.k:g} × a uniform head's score. Spread: octaves (doublings of the step "
                                  f"count) from the first seed to the last."),
            "order": frame_json(result.order, "The order in which each seed grows the types"),
            "pairs": frame_json(result.pairs, "Same order? Each pair of types, in the seeds that grow both",
                                "first_earlier: seeds where the first type appears at an earlier record than the "
                                "second; same_record: at the same one; first_later: after it."),
            "emergence": frame_json(result.emergence, "Each seed's first head of each type"),
            "backtrack": frame_json(result.backtrack, "The final clusters traced back",
                                    "final_type_from: the first step from which the head shows its cluster's type "
                                    "at every later record; was_first: whether it was its model's first head to "
                                    "show that type."),
            "coincidences": frame_json(result.coincidences, "Types that appear at a plateau's end or in a rise "
                                                            "of the held-out loss"),
        },
    }


def write_formation_report(result, fleet, job, out: Path) -> None:
    from analyze.core.figures import group_colors
    from analyze.core.page import write_page

    ids = [f"{m}.{h}" for m in result.scores for h in result.head_names]
    layers = [parse_head_id(i)[1] for i in ids]
    if result.clusters:  # the question is which final cluster a curve ends in
        labels, colouring = [result.clusters.get(i, -1) for i in ids], ", coloured by final cluster"
    elif max(layers) > 0:  # without clusters, a deep fleet's layers (an induction head is a layer-1 head)
        labels, colouring = layers, ", coloured by layer"
    else:
        labels, colouring = None, ""
    colour_of = {i: c for i, c in zip(ids, group_colors(labels))} if labels else {}
    figures = [(curves_figure(result, out / "fig_curves.png", colour_of),
                "Every head's scores over training" + colouring),
               (timeline_figure(result, out / "fig_timeline.png"), "When each seed's first head of each type appears"),
               (loss_figure(result, out / "fig_loss.png"), "Held-out loss; shaded: plateaus")]
    summary = result.summary
    grown = summary[summary["seeds_grown"] > 0]
    lines = [f"{r.type.replace('_', ' ')}: {r.seeds_grown} of {r.seeds} seeds, median step {r.median:g} "
             f"(range {r.first:g}–{r.last:g})" for r in grown.itertuples()]
    n = len(result.scores)
    intro = (f"<p>{n} model{'s' if n != 1 else ''} of {fleet.path.name}, recorded at {len(next(iter(result.steps.values())))} "
             f"steps. A head shows a type at {job.k:g} × a uniform head's score.</p><p>" + "<br>".join(lines) + "</p>")
    sections = [Section("Figures", figures=figures)]
    write_page(out / "report.html", f"Head formation in {fleet.path.name}", page_data(result, job), intro, sections,
               config={"fleet": str(fleet.path), "k": job.k, "thresholds": result.thresholds})
