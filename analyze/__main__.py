"""``python -m analyze phrenology|probes|compare``: the Attention Phrenology pipeline on a fleet; circuit probes
on any model; a fleet's heads against a pretrained model's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.checkpoints import CheckpointError
from train.config import ConfigError, load_config, parse_cli_overrides
from train.corpus import PROJECT_ROOT, CorpusNotFound
from train.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    from analyze.probes import PROBE_FAMILIES

    parser = argparse.ArgumentParser(prog="python -m analyze", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ph = sub.add_parser("phrenology", help="reproduce the Attention Phrenology paper on a fleet")
    ph.add_argument("--fleet", type=Path, help="fleet dir (default: the newest under checkpoints/)")
    ph.add_argument("--out", type=Path, help="output dir (default: runs/phrenology/<fleet name>)")
    ph.add_argument("--prompts", type=int, help="number of analysis prompts (paper: 1024)")
    ph.add_argument("--config", type=Path, help="YAML overrides, e.g. configs/phrenology.yaml")
    ph.add_argument("--seed", type=int, help="seed of every random step (UMAP, t-SNE, autoencoder, Leiden)")
    ph.add_argument("--aic", choices=["aic", "bic", "paper"], help="criterion that picks the bottleneck")
    ph.add_argument("--csv", action="store_true", help="also write the paper's long CSV of attention weights")
    ph.add_argument("--force", action="store_true", help="recompute every step, ignoring cached outputs")
    ph.add_argument("--nltk-data", type=Path, help="NLTK data dir holding corpora/brown.zip")
    ph.add_argument("--cache-dir", type=Path, help="tokenised-Brown cache (default: .cache/)")
    ph.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    ph.add_argument("--no-progress", action="store_true")
    ph.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. n_gammas=200")

    pr = sub.add_parser("probes", help="circuit probes on a toy checkpoint, a fleet, or a pretrained model")
    pr.add_argument("--model", required=True, help="toy model dir, fleet dir, local HF dir, or HF model name")
    pr.add_argument("--probes", default="all", help=f"all, or a comma list of: {','.join(PROBE_FAMILIES)}")
    pr.add_argument("--pairs", type=Path, help="antonym pairs file (default: analyze/data/antonyms.txt)")
    pr.add_argument("--prompts", type=int, help="Brown prompts for pattern scores and mean ablation (default 64)")
    pr.add_argument("--embedding", choices=["raw", "ee", "auto"], help="embedding fed to the OV and QK maps")
    pr.add_argument("--categories", type=Path, help="semantic categories (default: analyze/data/categories.yaml)")
    pr.add_argument("--tokens", choices=["brown", "categories"], help="token set of the QK maps (default: brown)")
    pr.add_argument("--steer", help="head to steer, e.g. gpt2.L1H5 → steering.csv")
    pr.add_argument("--alpha", help="steering factors for negative eigenvalues, e.g. 0,0.5,1,2")
    pr.add_argument("--cluster-head", help="head whose token QK map is clustered → token_clusters.csv")
    pr.add_argument("--semantic-head", help="head whose upstream components are mean-ablated → upstream_ablation.csv")
    pr.add_argument("--out", type=Path, help="output dir (default: runs/probes/<model name>)")
    pr.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    pr.add_argument("--nltk-data", type=Path, help="NLTK data dir holding corpora/brown.zip")
    pr.add_argument("--cache-dir", type=Path, help="tokenised-Brown cache (default: .cache/)")
    pr.add_argument("--no-progress", action="store_true")
    pr.add_argument("overrides", nargs="*", metavar="key=value", help="ProbeConfig overrides, e.g. max_seq_len=64")

    cp = sub.add_parser("compare", help="toy fleet heads against a pretrained model's heads")
    cp.add_argument("--fleet", type=Path, help="fleet dir (default: the newest under checkpoints/)")
    cp.add_argument("--pretrained", required=True, help="HF model name in the local cache, or a local HF dir")
    cp.add_argument("--layers", help="comma list of the pretrained model's layers to place (default: all)")
    cp.add_argument("--out", type=Path, help="output dir (default: runs/compare/<fleet>-<pretrained>)")
    cp.add_argument("--prompts", type=int, help="prompts if phrenology must be run first (default 1024)")
    cp.add_argument("--retokenize", action="store_true", help="re-encode prompts for a model with another tokenizer")
    cp.add_argument("--permutations", type=int, default=999, help="label permutations behind each p-value")
    cp.add_argument("--phrenology-dir", type=Path, help="fleet's phrenology outputs (default: runs/phrenology/<fleet>)")
    cp.add_argument("--probes-dir", type=Path, help="where probe runs are reused/written (default: runs/probes)")
    cp.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    cp.add_argument("--nltk-data", type=Path, help="NLTK data dir holding corpora/brown.zip")
    cp.add_argument("--cache-dir", type=Path, help="tokenised-Brown cache (default: .cache/)")
    cp.add_argument("overrides", nargs="*", metavar="key=value", help="phrenology config overrides")
    return parser


def compare_main(args) -> int:
    from analyze.compare_pipeline import CompareError, run_compare
    from analyze.fleets import FleetError, FleetInputs, latest_fleet
    from analyze.phrenology import PhrenologyConfig
    from analyze.probes import ProbeConfig, resolve_models
    from analyze.words import WordListError

    try:
        overrides = parse_cli_overrides(args.overrides)
        if args.prompts is not None:
            overrides["prompts"] = args.prompts
        phrenology_cfg = load_config(None, overrides, cls=PhrenologyConfig)
        fleet = FleetInputs(args.fleet or latest_fleet(), args.nltk_data, args.cache_dir, args.device)
        layers = None if not args.layers else [int(x) for x in args.layers.split(",")]
        name = resolve_models(args.pretrained)[0].name
        out = args.out or PROJECT_ROOT / "runs" / "compare" / f"{fleet.path.name}-{name}"
        phrenology_dir = args.phrenology_dir or PROJECT_ROOT / "runs" / "phrenology" / fleet.path.name
        probes_dir = args.probes_dir or PROJECT_ROOT / "runs" / "probes"
        result = run_compare(fleet, args.pretrained, layers, out, phrenology_dir, probes_dir, phrenology_cfg, ProbeConfig(), args.retokenize,
                             args.permutations, args.nltk_data, args.cache_dir, args.device)
    except (ConfigError, CorpusNotFound, CheckpointError, FleetError, CompareError, WordListError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"compared {fleet.path} with {args.pretrained} → {out / 'report.html'}")
    for _, row in result["matching"].iterrows():
        print(f"  [{row.space}] {row.statement}")
    return 0


def probes_main(args) -> int:
    from analyze.probes import PROBE_FAMILIES, ProbeConfig, run_probes
    from analyze.words import WordListError

    try:
        families = set(PROBE_FAMILIES) if args.probes == "all" else {p.strip() for p in args.probes.split(",")}
        unknown = families - set(PROBE_FAMILIES)
        if unknown:
            raise ConfigError(f"unknown probe(s) {', '.join(sorted(unknown))}; choose from {', '.join(PROBE_FAMILIES)}")
        overrides = parse_cli_overrides(args.overrides)
        for key, field_name in (("prompts", "prompts"), ("embedding", "embedding"), ("tokens", "qk_tokens"),
                                ("steer", "steer_head"), ("cluster_head", "cluster_head"),
                                ("semantic_head", "semantic_head")):
            if getattr(args, key) is not None:
                overrides[field_name] = getattr(args, key)
        if args.alpha is not None:
            overrides["alphas"] = [float(a) for a in args.alpha.split(",")]
        cfg = load_config(None, overrides, cls=ProbeConfig)
        out = args.out or PROJECT_ROOT / "runs" / "probes" / Path(args.model).name
        frame = run_probes(args.model, families, args.pairs, cfg, out, args.nltk_data, args.cache_dir, args.device,
                           progress=not args.no_progress, categories_path=args.categories)
    except (ConfigError, CorpusNotFound, CheckpointError, WordListError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"probed {frame.model.nunique()} model(s), {len(frame)} heads → {out / 'probes.csv'}, {out / 'report.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.command == "probes":
        return probes_main(args)
    if args.command == "compare":
        return compare_main(args)
    from analyze.fleets import FleetError, FleetInputs, latest_fleet
    from analyze.phrenology import PhrenologyConfig, run_phrenology

    try:
        overrides = parse_cli_overrides(args.overrides)
        for key in ("prompts", "seed", "aic"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        cfg = load_config(args.config, overrides, cls=PhrenologyConfig)
        fleet = FleetInputs(args.fleet or latest_fleet(), args.nltk_data, args.cache_dir, args.device)
        from analyze.extract import analysis_prompts

        analysis_prompts(cfg.prompts, fleet.n_ctx, cfg.prompt_seed, fleet.heldout_fraction, args.nltk_data,
                         args.cache_dir)  # checks --prompts before any output is written
        out = args.out or PROJECT_ROOT / "runs" / "phrenology" / fleet.path.name
        seconds = run_phrenology(fleet, cfg, out, args.force, args.csv, progress=not args.no_progress)
    except (ConfigError, CorpusNotFound, FleetError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"phrenology of {fleet.path} → {out / 'report.html'}")
    for step, s in seconds.items():
        print(f"  {step:12s} {s:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
