"""Training-speed benchmark: ``python -m bench.train [--config configs/paper.yaml] [--n 3] [--steps 20]``.

Prints, on one machine in one run: the matmul peak in fp32, in bf16 where the hardware has it natively, and in
the faster of the two (the best dtype); tokens/s and model GFLOP/s of the project's fleet trainer
(the real Lightning loop) with ``members_per_step`` 1 and auto; its model-FLOP utilisation against the
best-dtype peak; TransformerLens's own loop (``transformer_lens.tools.training.train`` at its defaults, fp32,
N times in sequence on the same model and batch size) and the ratio; peak RSS; the paper fleet's projected
hours; and the val loss after the same steps trained in fp32 and in bf16. Not a test: it prints figures.

Model FLOPs per trained token: 6 × (weights used in matmuls: W_Q, W_K, W_V, W_O, MLP in/out, W_U) plus
12 × n_layers × n_ctx × n_heads × d_head for the attention scores and mixing (QK^T and AV, forward and
backward). Embedding lookups cost no FLOPs. Tokens are input positions (batch × n_ctx).
"""

from __future__ import annotations

import argparse
import contextlib
import io
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
from train.hardware import (BF16_MIN_SPEEDUP, cpu_bf16_speedup, cpu_has_native_bf16, members_per_step,
                            resolve_device)
from train.record import model_dir_name


def model_flops_per_token(cfg: FleetConfig, vocab: int = 50_257) -> float:
    d_attn = cfg.n_heads * cfg.d_head
    per_layer = 4 * cfg.d_model * d_attn + (0 if cfg.attn_only else 2 * cfg.d_model * cfg.d_mlp)
    matmul_weights = cfg.n_layers * per_layer + cfg.d_model * vocab
    return 6 * matmul_weights + 12 * cfg.n_layers * cfg.n_ctx * d_attn


def matmul_rate(m: int, k: int, n: int, device: str, dtype=torch.float32, seconds: float = 1.0) -> float:
    """Sustained GFLOP/s of an (m×k)·(k×n) matmul on random data."""
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
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
    return max(matmul_rate(size, size, size, device, dtype) for _ in range(2))


def bf16_is_native(device: str) -> bool:
    return torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_native_bf16()


def bench_fleet_trainer(cfg: FleetConfig, n: int, steps: int, warmup: int, per_step: int | None) -> tuple[float, int]:
    """Fleet tokens/s of the project's trainer and the members trained together: each member's median per-step
    rate after warm-up, times the members that ran at once."""
    from train.fleet import train_fleet

    run = load_config(None, {**cfg.to_dict(), "n": n, "train_windows": cfg.batch_size * (steps + warmup),
                             "epochs": 1, "val_windows": cfg.batch_size, "log_every_n_steps": 1,
                             "checkpoint_every_n_steps": 10**6, "members_per_step": per_step})
    with tempfile.TemporaryDirectory() as tmp:
        record = train_fleet(run, Path(tmp) / "fleet", progress=False)
        together = len(record.models[0].trained_with)
        rates = []
        for i in range(n):
            with open(Path(tmp) / "fleet" / model_dir_name(i) / "metrics.csv") as f:
                rows = [r for r in csv.DictReader(f) if r["tokens_per_s"] and int(r["step"]) > warmup]
            rates.append(statistics.median(float(r["tokens_per_s"]) for r in rows))
    return together * statistics.mean(rates), together


def bench_transformer_lens_loop(cfg: FleetConfig, n: int, steps: int, warmup: int, device: str) -> float:
    """Tokens/s of ``transformer_lens.tools.training.train`` on the same model, run N times in sequence."""
    from transformer_lens.model_bridge.sources.native import boot
    from transformer_lens.tools.training import TrainConfig, train

    tokens = torch.randint(0, 50_257, (cfg.batch_size * (steps + warmup + 2), cfg.n_ctx))
    dataset = [{"tokens": row} for row in tokens]
    total_time = 0.0
    for i in range(n):
        bridge = boot(cfg.tl_config(i), device=device)

        def run(max_steps: int) -> None:  # TL's loop stops after step index max_steps: max_steps + 1 steps
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):  # its bars
                train(bridge, TrainConfig(num_epochs=1, batch_size=cfg.batch_size, lr=cfg.lr,
                                          weight_decay=cfg.weight_decay, optimizer_name="AdamW", device=device,
                                          print_every=None, max_steps=max_steps), dataset)

        run(warmup - 1)
        start = time.perf_counter()
        run(steps - 1)
        if device == "cuda":
            torch.cuda.synchronize()
        total_time += time.perf_counter() - start
    return n * steps * cfg.batch_size * cfg.n_ctx / total_time


def val_loss_after(cfg: FleetConfig, steps: int, precision: str) -> float:
    """Val loss (fp32, 1,024 held-out windows) of model 0 after ``steps`` steps trained in ``precision``."""
    from train.fleet import train_fleet

    run = load_config(None, {**cfg.to_dict(), "n": 1, "train_windows": cfg.batch_size * steps, "epochs": 1,
                             "precision": precision, "checkpoint_every_n_steps": 10**6, "members_per_step": 1})
    with tempfile.TemporaryDirectory() as tmp:
        return train_fleet(run, Path(tmp) / "fleet", progress=False).models[0].final_val_loss


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "configs" / "paper.yaml")
    parser.add_argument("--n", type=int, default=3, help="models per trainer run")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--parity-steps", type=int, default=100, help="steps of the fp32 / bf16 val-loss check (0: skip)")
    parser.add_argument("--skip-tl", action="store_true", help="skip TransformerLens's loop")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. loss_chunk=512")
    args = parser.parse_args(argv)
    from train.config import parse_cli_overrides
    from train.logs import setup_logging

    setup_logging()
    # training speed alone: recording heads (train/formation.py) has its own benchmark, bench.formation
    cfg = load_config(args.config, {"record_heads": False, **parse_cli_overrides(args.overrides)})
    device, precision = resolve_device(cfg.device, cfg.precision)
    flops = model_flops_per_token(cfg)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else
             f", native bf16: {'yes' if cpu_has_native_bf16() else 'no'}"))
    print(f"model: {args.config.name}, batch {cfg.batch_size} x {cfg.n_ctx} tokens, "
          f"{flops / 1e6:.1f} MFLOP per trained token; trainer precision {precision}"
          + (f" (precision=auto measured bf16 at {cpu_bf16_speedup():.2f}x fp32; bf16 needs "
             f">= {BF16_MIN_SPEEDUP}x)" if device == "cpu" and cpu_has_native_bf16() else ""))
    fp32 = peak_matmul(device)
    bf16 = peak_matmul(device, torch.bfloat16) if bf16_is_native(device) else None
    best, peak = (torch.bfloat16, bf16) if bf16 is not None and bf16 > fp32 else (torch.float32, fp32)
    print(f"matmul peak fp32:                  {fp32:10.1f} GFLOP/s")
    if bf16 is not None:
        print(f"matmul peak bf16:                  {bf16:10.1f} GFLOP/s ({bf16 / fp32:.2f}x fp32)")
    print(f"matmul peak best dtype ({str(best).removeprefix('torch.')}):   {peak:10.1f} GFLOP/s")
    rates = {}
    auto = members_per_step(cfg, device, args.n)
    for label, per_step in (("1", 1), (f"auto = {auto}", None)):
        if per_step is None and auto == 1:
            print("fleet trainer, members_per_step auto: resolves to 1 on this device (same as above)")
            continue
        rate, together = bench_fleet_trainer(cfg, args.n, args.steps, args.warmup, per_step)
        rates[label] = rate
        print(f"fleet trainer, members_per_step {label:8s}: {rate:10.1f} tokens/s {rate * flops / 1e9:8.1f} model "
              f"GFLOP/s  MFU {rate * flops / 1e9 / peak:6.1%} of the {str(best).removeprefix('torch.')} peak")
    ours = max(rates.values())
    peak_after = peak_matmul(device, best)
    print(f"matmul peak best dtype again after the trainer: {peak_after:8.1f} GFLOP/s (the VM drifts; MFU against "
          f"the mean of both readings: {ours * flops / 1e9 / ((peak + peak_after) / 2):.1%})")
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS: {rss_gb:.2f} GB")
    if device == "cpu" and cpu_has_native_bf16():  # auto's verdict, checked on the trainer itself
        other = "bf16-mixed" if precision == "32-true" else "32-true"
        rate, _ = bench_fleet_trainer(load_config(None, {**cfg.to_dict(), "precision": other}), args.n, args.steps,
                                      args.warmup, 1)
        print(f"fleet trainer, precision {other} (not auto's choice): {rate:10.1f} tokens/s; auto's {precision} "
              f"runs {rates['1'] / rate:.2f}x its rate")
    if not args.skip_tl:
        theirs = bench_transformer_lens_loop(cfg, args.n, args.steps, args.warmup, device)
        print(f"TransformerLens train() x{args.n} (its defaults, fp32): {theirs:10.1f} tokens/s "
              f"{theirs * flops / 1e9:8.1f} model GFLOP/s")
        print(f"ratio fleet trainer / TransformerLens: {ours / theirs:.2f}x")
    paper_tokens = 9 * cfg.total_steps() * cfg.batch_size * cfg.n_ctx
    print(f"9-model fleet of this config ({paper_tokens / 1e6:.1f} M tokens) at the best rate: {paper_tokens / ours / 3600:.2f} h "
          f"({paper_tokens / ours:.0f} s)")
    if args.parity_steps:
        losses = {p: val_loss_after(cfg, args.parity_steps, p) for p in ("32-true", "bf16-mixed")}
        print(f"val loss after {args.parity_steps} steps, same seed: fp32 {losses['32-true']:.4f}, bf16-mixed "
              f"{losses['bf16-mixed']:.4f} (difference {losses['bf16-mixed'] - losses['32-true']:+.4f})")


if __name__ == "__main__":
    main()
