"""``python -m train fleet``: train N toy transformers that differ only in seed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.config import ConfigError, FleetConfig, job_config
from train.paths import checkpoints_dir
from train.errors import run_command
from train.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fleet = sub.add_parser("fleet", help="train (or resume) a fleet of models")
    fleet.add_argument("--n", type=int, help="number of models (default: config's n, paper: 9)")
    fleet.add_argument("--config", type=Path, help="YAML overrides of the paper config, e.g. configs/tiny.yaml "
                                                   "(default: the config of the fleet at --out, when there is one)")
    fleet.add_argument("--out", type=Path, help="fleet dir (default: checkpoints/<config name>)")
    fleet.add_argument("--seed", type=int, help="model i gets seed S+i (paper: 990)")
    fleet.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto: CUDA + bf16 when present")
    fleet.add_argument("--nltk-data", type=Path, help="NLTK data dir holding corpora/brown.zip")
    fleet.add_argument("--download", action="store_true",
                       help="fetch Brown with NLTK's downloader first when it is missing (into --nltk-data or ~/nltk_data)")
    fleet.add_argument("--cache-dir", type=Path, help="where tokenised Brown is cached (default: .cache/)")
    fleet.add_argument("--no-progress", action="store_true", help="no progress bar")
    fleet.add_argument("--launcher", choices=["local", "ray"], default="local",
                       help="local: in this process (default); ray: members as Ray tasks (pip install -e '.[ray]')")
    fleet.add_argument("--ray-address", help="Ray cluster to join, e.g. auto or HOST:PORT (default: a local instance)")
    fleet.add_argument("--cpus-per-task", type=int, help="CPUs each Ray task asks for on a CPU cluster (default 1)")
    fleet.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs=1")
    return parser


def existing_config(out: Path) -> dict | None:
    """The config stored in ``out/fleet.json``, so ``train fleet --out DIR`` resumes a fleet without its YAML."""
    from train.record import RECORD_FILE, FleetRecord

    return FleetRecord.read(out).config if (out / RECORD_FILE).exists() else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return run_command(lambda: fleet_main(args))


def fleet_main(args) -> int:
    from train.fleet import train_fleet

    if args.download:
        from train.corpus import CorpusNotFound, download_brown, find_brown

        try:
            find_brown(args.nltk_data)
        except CorpusNotFound:
            print(f"fetched Brown: {download_brown(args.nltk_data)}")
    out = args.out or checkpoints_dir() / (args.config.stem if args.config else "paper")
    cfg = job_config(FleetConfig, args.config, args.overrides, {"n": args.n, "seed": args.seed, "device": args.device},
                     base=None if args.config else existing_config(out))
    if args.launcher == "ray":
        from train.ray_launcher import train_fleet_ray

        record = train_fleet_ray(cfg, out, args.nltk_data, args.cache_dir, not args.no_progress,
                                 args.ray_address, args.cpus_per_task)
    else:
        if args.ray_address:
            raise ConfigError("--ray-address needs --launcher ray")
        record = train_fleet(cfg, out, args.nltk_data, args.cache_dir, progress=not args.no_progress)
    print(f"fleet {out}: {len(record.done)}/{record.n} models done")
    for m in record.models:
        print(f"  {m.dir} seed {m.seed}: {m.status.value}, train loss {m.final_train_loss}, "
              f"val loss {m.final_val_loss}")
    return 0 if len(record.done) == record.n else 1


if __name__ == "__main__":
    sys.exit(main())
