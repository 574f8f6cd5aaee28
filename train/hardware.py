"""Which device and precision a fleet trains in: CUDA when present, and bf16 wherever the matrix units run it
natively (any CUDA GPU with bf16, or a CPU with AVX-512 BF16 / AMX / Arm BF16), fp32 elsewhere.

On a CPU without native bf16, oneDNN emulates bf16 matmuls and they run slower than fp32, so bf16 must only be
picked where the hardware has it. We ask torch's own CPU feature detection (cpuinfo, the same facts oneDNN
dispatches on), never the CPU's model name.
"""

from __future__ import annotations

import torch

NATIVE_BF16_CPU_FEATURES = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")  # x86 (AVX-512, AMX), Arm


def cpu_has_native_bf16() -> bool:
    """True when torch reports a CPU feature that executes bf16 dot products in hardware."""
    capabilities = getattr(torch, "cpu", None) and getattr(torch.cpu, "get_capabilities", None)
    if capabilities is None:  # torch too old to say: assume no, fp32 is always correct
        return False
    found = capabilities()
    return any(bool(found.get(name, False)) for name in NATIVE_BF16_CPU_FEATURES)


def resolve_device(device: str, precision: str) -> tuple[str, str]:
    """``auto`` → CUDA when a GPU is present, else CPU; precision ``auto`` → ``bf16-mixed`` where native."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was asked for but no CUDA GPU is visible")
    if precision == "auto":
        native = torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_native_bf16()
        precision = "bf16-mixed" if native else "32-true"
    return device, precision


def members_per_step(cfg, device: str, n_pending: int) -> int:
    """Fleet members trained together per optimizer step (config ``members_per_step``; None = auto).

    Auto: on a GPU, every pending member that fits in half the free memory (a paper member needs ~0.6 GB: fp32
    weights, gradients and AdamW state, plus one batch of bf16 probabilities), which turns a launch-bound
    1,024-token step into a useful one; on a CPU one at a time, because a CPU step is already matmul-bound and
    batching members changes no matmul shape (bench/README.md).
    """
    if cfg.members_per_step is not None:
        return max(1, min(cfg.members_per_step, max(n_pending, 1)))
    if device != "cuda":
        return 1
    vocab, tokens = 50_257, cfg.batch_size * cfg.n_ctx
    params = vocab * cfg.d_model * 2 + cfg.n_layers * (4 * cfg.d_model * cfg.n_heads * cfg.d_head
                                                       + 2 * cfg.d_model * (cfg.d_mlp or 0))
    per_member = 16 * params + 3 * tokens * vocab * 2
    free, _ = torch.cuda.mem_get_info()
    return max(1, min(n_pending, int(0.5 * free // per_member)))
