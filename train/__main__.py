"""``python -m train fleet``: train N toy transformers that differ only in seed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.checkpoints import CheckpointError
from train.config import ConfigError, load_config, parse_cli_overrides
from train.corpus import PROJECT_ROOT, CorpusNotFound
from train.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fleet = sub.add_parser("fleet", help="train (or resume) a fleet of models")
    fleet.add_argument("--n", type=int, help="number of models (default: config's n, paper: 9)")
    fleet.add_argument("--config", type=Path, help="YAML overrides of the paper config, e.g. configs/tiny.yaml")
    fleet.add_argument("--out", type=Path, help="fleet dir (default: checkpoints/<config name>)")
    fleet.add_argument("--seed", type=int, help="model i gets seed S+i (paper: 990)")
    fleet.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto: CUDA + bf16 when present")
    fleet.add_argument("--nltk-data", type=Path, help="NLTK data dir holding corpora/brown.zip")
    fleet.add_argument("--cache-dir", type=Path, help="where tokenised Brown is cached (default: .cache/)")
    fleet.add_argument("--no-progress", action="store_true", help="no progress bar")
    fleet.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs=1")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    from train.fleet import FleetMismatch, train_fleet

    try:
        overrides = parse_cli_overrides(args.overrides)
        for key in ("n", "seed", "device"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        cfg = load_config(args.config, overrides)
        out = args.out or PROJECT_ROOT / "checkpoints" / (args.config.stem if args.config else "paper")
        record = train_fleet(cfg, out, args.nltk_data, args.cache_dir, progress=not args.no_progress)
    except (ConfigError, CorpusNotFound, FleetMismatch, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    done = sum(m["status"] == "done" for m in record["models"])
    print(f"fleet {out}: {done}/{len(record['models'])} models done")
    for m in record["models"]:
        print(f"  {m['dir']} seed {m['seed']}: {m['status']}, train loss {m.get('final_train_loss')}, "
              f"val loss {m.get('final_val_loss')}")
    return 0 if done == len(record["models"]) else 1


if __name__ == "__main__":
    sys.exit(main())
