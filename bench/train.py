"""Training-speed benchmark: ``python -m bench.train [--config configs/paper.yaml] [--n 3] [--steps 20]``.

Prints, on one machine in one run: the measured fp32 (and, on CUDA, bf16) matmul peak; tokens/s and
model GFLOP/s of the project's fleet trainer (N models through the real Lightning loop) and of
TransformerLens's own loop (``transformer_lens.tools.training.train``, N times in sequence on the same
model and batch size); their ratio; model-FLOP utilisation; and peak RSS. Not a test: it prints figures.

Model FLOPs per trained token: 6 × (weights used in matmuls: W_Q, W_K, W_V, W_O, MLP in/out, W_U) plus
12 × n_layers × n_ctx × n_heads × d_head for the attention scores and mixing (QK^T and AV, forward and
backward). Embedding lookups cost no FLOPs. Tokens are input positions (batch × n_ctx).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from train.config import FleetConfig, load_config
from train.corpus import PROJECT_ROOT


def model_flops_per_token(cfg: FleetConfig, vocab: int = 50_257) -> float:
    d_attn = cfg.n_heads * cfg.d_head
    per_layer = 4 * cfg.d_model * d_attn + (0 if cfg.attn_only else 2 * cfg.d_model * cfg.d_mlp)
    matmul_weights = cfg.n_layers * per_layer + cfg.d_model * vocab
    return 6 * matmul_weights + 12 * cfg.n_layers * cfg.n_ctx * d_attn


def sgemm_rate(m: int, k: int, n: int, device: str, dtype=torch.float32, seconds: float = 1.0) -> float:
    """Sustained GFLOP/s of an (m×k)·(k×n) matmul."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(2):
        a @ b
    sync()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    sync()
    return 2 * m * k * n * reps / (time.perf_counter() - start) / 1e9


def peak_matmul(device: str, dtype=torch.float32) -> float:
    size = 8192 if device == "cuda" else 2048
    return max(sgemm_rate(size, size, size, device, dtype) for _ in range(2))


def unembed_rates(cfg: FleetConfig, device: str, vocab: int = 50_257) -> float:
    """FLOP-weighted rate of the three unembedding matmuls of one chunk as train/loss.py lays them out:
    logits^T = W_U h^T [vocab, c], grad_h = P^T W_U [c, d], grad_W = P h [vocab, d]."""
    c, d = cfg.loss_chunk or cfg.batch_size * cfg.n_ctx, cfg.d_model
    rates = [sgemm_rate(vocab, d, c, device), sgemm_rate(c, vocab, d, device), sgemm_rate(vocab, c, d, device)]
    return 3 / sum(1 / r for r in rates)


def bench_fleet_trainer(cfg: FleetConfig, n: int, steps: int, warmup: int) -> float:
    """Tokens/s of the project's trainer: median of per-step rates after warm-up, over N models."""
    from train.fleet import train_fleet

    run = load_config(None, {**cfg.to_dict(), "n": n, "train_windows": cfg.batch_size * (steps + warmup),
                             "epochs": 1, "val_windows": cfg.batch_size, "log_every_n_steps": 1,
                             "checkpoint_every_n_steps": 10**6})
    with tempfile.TemporaryDirectory() as tmp:
        train_fleet(run, Path(tmp) / "fleet", progress=False)
        rates = []
        for i in range(n):
            with open(Path(tmp) / "fleet" / f"model_{i:02d}" / "metrics.csv") as f:
                rows = [r for r in csv.DictReader(f) if r["tokens_per_s"] and int(r["step"]) > warmup]
            rates.append(statistics.median(float(r["tokens_per_s"]) for r in rows))
    return statistics.mean(rates)


def bench_transformer_lens_loop(cfg: FleetConfig, n: int, steps: int, warmup: int, device: str) -> float:
    """Tokens/s of ``transformer_lens.tools.training.train`` on the same model, run N times in sequence."""
    from transformer_lens.model_bridge.sources.native import boot
    from transformer_lens.tools.training import TrainConfig, train

    os.environ["TQDM_DISABLE"] = "1"  # TL's loop draws two progress bars per call
    tokens = torch.randint(0, 50_257, (cfg.batch_size * (steps + warmup + 2), cfg.n_ctx))
    dataset = [{"tokens": row} for row in tokens]
    total_time = 0.0
    for i in range(n):
        bridge = boot(cfg.tl_config(i), device=device)

        def run(max_steps: int) -> None:  # TL's loop stops after step index max_steps: max_steps + 1 steps
            train(bridge, TrainConfig(num_epochs=1, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                      optimizer_name="AdamW", device=device, print_every=None,
                                      max_steps=max_steps), dataset)

        run(warmup - 1)
        start = time.perf_counter()
        run(steps - 1)
        if device == "cuda":
            torch.cuda.synchronize()
        total_time += time.perf_counter() - start
    return n * steps * cfg.batch_size * cfg.n_ctx / total_time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "configs" / "paper.yaml")
    parser.add_argument("--n", type=int, default=3, help="models per trainer")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--skip-tl", action="store_true", help="skip TransformerLens's loop")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. loss_chunk=512")
    args = parser.parse_args(argv)
    from train.config import parse_cli_overrides
    from train.logs import setup_logging

    setup_logging()
    cfg = load_config(args.config, parse_cli_overrides(args.overrides))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    flops = model_flops_per_token(cfg)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), device {device}")
    print(f"model: {args.config.name}, batch {cfg.batch_size} x {cfg.n_ctx} tokens, "
          f"{flops / 1e6:.1f} MFLOP per trained token")
    peak = peak_matmul(device)
    unembed = unembed_rates(cfg, device)
    print(f"fp32 matmul peak (square sgemm): {peak:8.1f} GFLOP/s")
    print(f"fp32 sgemm at the unembedding's shapes:   {unembed:8.1f} GFLOP/s")
    if device == "cuda":
        print(f"bf16 matmul peak (square):       {peak_matmul(device, torch.bfloat16):8.1f} GFLOP/s "
              f"(fleet trainer runs bf16 autocast on CUDA)")
    ours = bench_fleet_trainer(cfg, args.n, args.steps, args.warmup)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    # A shared VM's sgemm rate drifts by tens of percent over minutes: measure the peak again after the
    # trainer and divide by the mean of the two, so the MFU does not hinge on one lucky or unlucky second.
    peak_after = peak_matmul(device)
    print(f"fp32 matmul peak again after the trainer: {peak_after:8.1f} GFLOP/s")
    peak = (peak + peak_after) / 2
    print(f"fleet trainer ({args.n} models):  {ours:8.1f} tokens/s  {ours * flops / 1e9:7.1f} model GFLOP/s  "
          f"MFU {ours * flops / 1e9 / peak:5.1%} of mean square peak, {ours * flops / 1e9 / unembed:5.1%} of "
          f"unembedding-shape sgemm; peak RSS {rss_gb:.2f} GB")
    if not args.skip_tl:
        theirs = bench_transformer_lens_loop(cfg, args.n, args.steps, args.warmup, device)
        print(f"TransformerLens train() x{args.n}: {theirs:8.1f} tokens/s  {theirs * flops / 1e9:7.1f} model GFLOP/s  "
              f"MFU {theirs * flops / 1e9 / peak:5.1%}")
        print(f"ratio fleet trainer / TransformerLens: {ours / theirs:.2f}x")
    paper_tokens = 9 * cfg.total_steps() * cfg.batch_size * cfg.n_ctx
    print(f"paper fleet ({paper_tokens / 1e6:.1f} M tokens) at this rate: {paper_tokens / ours / 3600:.2f} h")


if __name__ == "__main__":
    main()
