"""Training-process memory: glibc keeps the per-step gradients' memory instead of page-faulting it afresh."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Steps of a model with the paper's d_model (its W_E and W_U gradients are 51 MB each, over glibc's 32 MB mmap
# threshold), counting the process's minor page faults per step before and after keep_freed_memory_in_heap().
SCRIPT = """
import json, resource, torch
from train.config import load_config
from train.hardware import keep_freed_memory_in_heap
from train.model import build_native_model
from train.module import next_token_loss

cfg = load_config(None, dict(n_heads=1, d_head=16, d_mlp=64, precision="32-true"))
model = build_native_model(cfg.tl_config(0))
opt = torch.optim.AdamW(model.parameters(), fused=True)
tokens = torch.randint(0, 50_257, (8, 17))

def faults_per_step(steps=3):
    def step():
        next_token_loss(model, tokens).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    step()  # settle: the first step after a change may grow the heap
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / steps

before = faults_per_step()
changed = keep_freed_memory_in_heap()
print(json.dumps({"changed": changed, "before": before, "after": faults_per_step()}))
"""


def test_training_steps_stop_page_faulting_once_freed_memory_stays_in_the_heap():
    """Known answer: a fresh 51 MB gradient is ~12,500 faults of 4 KB pages; with the heap kept, a step reuses
    memory it already has and faults almost never."""
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["changed"], result
    assert result["before"] > 12_000, result  # at least one 51 MB buffer faulted in per step
    assert result["after"] < 100, result
