"""Which device and precision a fleet trains in: CUDA when present, and bf16 wherever the matrix units run it
natively and faster than fp32 (any CUDA GPU with bf16, or a CPU whose bf16 matmul measures faster), fp32 elsewhere.

On a CPU without native bf16, oneDNN emulates bf16 matmuls and they run slower than fp32, so bf16 must only be
picked where the hardware has it. We ask torch's own CPU feature detection (cpuinfo, the same facts oneDNN
dispatches on), never the CPU's model name. The feature alone is not enough: a CPU can report AVX-512 BF16 while
its bf16 matmuls run at half its fp32 rate (a hypervisor that hides AMX does this; bench/README.md has the
figures), while on others bf16 runs at several times fp32. So on a CPU with the feature, a short matmul at the
unembedding's shape (~0.2 s, once per process) decides.
"""

from __future__ import annotations

import functools
import time

import torch
from train.config import ConfigError

BF16_MIN_SPEEDUP = 1.25  # below this the mixed path's casts and conversions eat the matmul gain

NATIVE_BF16_CPU_FEATURES = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")  # x86 (AVX-512, AMX), Arm


def cpu_has_native_bf16() -> bool:
    """True when torch reports a CPU feature that executes bf16 dot products in hardware."""
    capabilities = getattr(torch, "cpu", None) and getattr(torch.cpu, "get_capabilities", None)
    if capabilities is None:  # torch too old to say: assume no, fp32 is always correct
        return False
    found = capabilities()
    return any(bool(found.get(name, False)) for name in NATIVE_BF16_CPU_FEATURES)


@functools.cache
def cpu_bf16_speedup() -> float:
    """bf16 over fp32 throughput of a [256, 256] @ [256, 16384] matmul on this CPU (the unembedding's inner
    dimension and row block), the median of 5 interleaved timings of each after a warm-up."""
    a = torch.randn(256, 256)
    b = torch.randn(256, 16_384)
    pairs = {torch.float32: (a, b), torch.bfloat16: (a.bfloat16(), b.bfloat16())}
    times: dict[torch.dtype, list[float]] = {dtype: [] for dtype in pairs}
    for rep in range(6):
        for dtype, (x, y) in pairs.items():
            start = time.perf_counter()
            x @ y
            if rep:  # the first round warms up the kernels
                times[dtype].append(time.perf_counter() - start)
    median = {dtype: sorted(t)[len(t) // 2] for dtype, t in times.items()}
    return median[torch.float32] / median[torch.bfloat16]


def cpu_bf16_is_faster() -> bool:
    """Native bf16 (torch's CPU features) whose matmuls also measure at least BF16_MIN_SPEEDUP x fp32."""
    return cpu_has_native_bf16() and cpu_bf16_speedup() >= BF16_MIN_SPEEDUP


def resolve_device(device: str, precision: str) -> tuple[str, str]:
    """``auto`` → CUDA when a GPU is present, else CPU; precision ``auto`` → ``bf16-mixed`` where native and faster."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda was asked for but no CUDA GPU is visible")
    if precision == "auto":
        faster = torch.cuda.is_bf16_supported() if device == "cuda" else cpu_bf16_is_faster()
        precision = "bf16-mixed" if faster else "32-true"
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


@functools.cache
def keep_freed_memory_in_heap() -> bool:
    """Make glibc serve large allocations from its heap and keep freed memory there (``mallopt``), once per process.

    By default glibc gives every allocation over 32 MB its own ``mmap`` and returns it on free, so each training
    step page-faults fresh zeroed pages for the 51 MB gradients of W_E and W_U: tens of thousands of page faults
    and several percent of an fp32 step (bench/README.md); reusing heap pages removes them (tests/train/test_hardware.py). The process then keeps its peak memory until it exits, which a
    training process does anyway. False where the C library is not glibc (nothing changed).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))
