"""Held-out Brown prompts, the input of every analysis (Attention Phrenology §2.1.3: 1024 windows of 16 tokens).

A prompt is a window of consecutive held-out tokens starting at a random sentence (the authors'
``corpus_for_analysis.py``; seed 9992), so the models never saw its document. The starting sentences depend only
on the seed and the split, not on the tokenizer: a model with another tokenizer reads the same text from the same
starting sentences, cut to the same number of its own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from train.config import ConfigError


@dataclass(frozen=True)
class Prompts:
    """The analysis prompts: token ids and the held-out Brown document each starts in."""

    tokens: np.ndarray  # [prompt, pos] int64
    docs: np.ndarray  # [prompt] str


def check_prompt_count(n_prompts: int, what: str = "--prompts") -> None:
    if n_prompts < 1:
        raise ConfigError(f"{what} must be a positive number of prompts, got {n_prompts}")


def analysis_prompts(n_prompts: int, length: int, seed: int, heldout_fraction: float, nltk_data=None,
                     cache_dir=None, tokenizer=None, bos_id: int | None = None) -> Prompts:
    """``n_prompts`` windows of ``length`` tokens from the held-out documents.

    ``tokenizer``: None for GPT-2 (the toy models' tokenizer), else the model's own. ``bos_id``: when given, each
    window is that token followed by ``length - 1`` text tokens, so every model sees ``length`` positions.
    """
    from train.data import sample_windows, tokenize_brown, window_documents

    check_prompt_count(n_prompts)
    if length < 2:
        raise ConfigError(f"prompts need at least 2 tokens, got a length of {length}")
    _, _, heldout = tokenize_brown(heldout_fraction, nltk_data, cache_dir, tokenizer)
    if n_prompts > heldout.n_sentences:
        raise ConfigError(f"--prompts {n_prompts} is more than the {heldout.n_sentences} held-out sentences "
                         f"prompts can start at; ask for fewer")
    body = length - (bos_id is not None)
    tokens = sample_windows(heldout, n_prompts, body, seed)
    if bos_id is not None:
        tokens = np.concatenate([np.full((n_prompts, 1), bos_id, dtype=tokens.dtype), tokens], axis=1)
    return Prompts(tokens, window_documents(heldout, n_prompts, body, seed))


@dataclass(frozen=True)
class Bos:
    """What a model's prompts start with: ``id`` None for no BOS; ``rule`` says why (recorded in probes.json)."""

    id: int | None
    token: str | None
    rule: str

    def record(self) -> dict:
        return {"id": self.id, "token": self.token, "rule": self.rule}


def bos_convention(kind: str, tokenizer) -> Bos:
    """The model family's convention for the first token of a prompt.

    - toy models: none; they were trained on windows cut from running text with no BOS;
    - a tokenizer that prepends a special token itself (Llama 2/3, Gemma, Mistral): that token;
    - otherwise the family's document separator ``<|endoftext|>`` (GPT-2, GPT-NeoX/Pythia, SmolLM, Qwen), which
      the models saw before every pretraining document and which TransformerLens prepends for GPT-2;
    - otherwise none.
    """
    if kind == "toy":
        return Bos(None, None, "toy models are trained on windows of running text without BOS")
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    special = tokenizer("a", add_special_tokens=True)["input_ids"]
    if len(special) > len(plain) and special[-len(plain):] == plain:
        return Bos(special[0], tokenizer.convert_ids_to_tokens(special[0]), "the tokenizer prepends it")
    separator = tokenizer.get_vocab().get("<|endoftext|>")
    if separator is not None:
        return Bos(separator, "<|endoftext|>", "the family's document separator, as TransformerLens prepends for GPT-2")
    return Bos(None, None, "no BOS: the tokenizer adds none and has no <|endoftext|>")


