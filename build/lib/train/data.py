"""Training windows from Brown: tokenise once (cached as Arrow), then sample windows as the authors did.

A window starts at a random sentence and runs on through the following sentences until it holds
``n_ctx + 1`` tokens (16 inputs + 16 next-token targets in the paper); sentences are tokenised one by one
with no BOS and no separator (edkins/universality, training/corpus.py). Windows never cross the split:
training windows wrap around inside the training documents only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.corpus import Split, find_brown, read_brown, split_documents
from train.paths import cache_dir as default_cache_dir
from train.tokenizer import fingerprint_of, load_gpt2_tokenizer, tokenizer_fingerprint
from train.config import ConfigError

_CACHE_VERSION = 1


@dataclass(frozen=True)
class TokenizedText:
    """One side of the split as a flat token stream."""

    tokens: np.ndarray  # [n_tokens] int64
    sentence_starts: np.ndarray  # [n_sentences] int64, offset of each sentence in ``tokens``
    sentence_docs: np.ndarray  # [n_sentences] str, Brown file id of each sentence

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_starts)


def sample_windows(text: TokenizedText, n: int, length: int, seed: int) -> np.ndarray:
    """``n`` windows of ``length`` tokens, each starting at a distinct random sentence.  → [n, length] int64"""
    if n > text.n_sentences:
        raise ConfigError(f"asked for {n} windows but this side of the split has only {text.n_sentences} "
                         f"sentences to start them at")
    starts = np.random.default_rng(seed).choice(text.n_sentences, size=n, replace=False)
    offsets = text.sentence_starts[starts]  # [n]
    wrapped = np.concatenate([text.tokens, text.tokens[:length]])  # windows at the end wrap to the start
    return wrapped[offsets[:, None] + np.arange(length)[None, :]]  # [n, length]


def window_documents(text: TokenizedText, n: int, length: int, seed: int) -> np.ndarray:
    """Brown file id of the sentence each window of ``sample_windows`` (same args) starts in."""
    starts = np.random.default_rng(seed).choice(text.n_sentences, size=n, replace=False)
    return text.sentence_docs[starts]


def frequent_tokens(text: TokenizedText, n: int) -> np.ndarray:
    """The ``n`` most frequent token ids of a text, most frequent first."""
    return np.argsort(-np.bincount(text.tokens), kind="stable")[:n]


def _cache_key(brown_path: Path, heldout_fraction: float, tokenizer_id: str) -> str:
    brown_id = f"{brown_path.name}:{brown_path.stat().st_size}"
    raw = json.dumps([_CACHE_VERSION, tokenizer_id, brown_id, heldout_fraction])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def tokenize_brown(heldout_fraction: float, nltk_data=None, cache_dir: Path | None = None, tokenizer=None,
                   ) -> tuple[Split, TokenizedText, TokenizedText]:
    """``(split, train, heldout)``; the first call tokenises Brown (~1.3 M tokens), later calls read the cache.

    ``tokenizer``: None for GPT-2's BPE (what the fleets train on), or any Hugging Face tokenizer: a pretrained
    model then reads the same sentences in its own tokens. Each tokenizer has its own cache.
    """
    import datasets

    cache_dir = Path(cache_dir or default_cache_dir())
    tokenizer_id = tokenizer_fingerprint() if tokenizer is None else fingerprint_of(tokenizer)
    prefix = "brown-gpt2" if tokenizer is None else "brown-tok"
    path = cache_dir / f"{prefix}-{_cache_key(find_brown(nltk_data), heldout_fraction, tokenizer_id)}"
    if not (path / "split.json").exists():
        _build_cache(path, heldout_fraction, nltk_data, tokenizer)
    if path not in _LOADED:  # analyses ask several times per model; reading the cache once is enough
        split = Split(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in json.loads((path / "split.json").read_text()).items()})
        dset = datasets.load_from_disk(str(path / "arrow"))
        _LOADED[path] = (split, _as_text(dset["train"]), _as_text(dset["heldout"]))
    return _LOADED[path]


_LOADED: dict[Path, tuple[Split, TokenizedText, TokenizedText]] = {}


def _as_text(dset) -> TokenizedText:
    """Columns straight from Arrow: iterating ``dset["doc"]`` formats 200k rows one by one (~2 s)."""
    column = dset.data.column("ids").combine_chunks()  # pyarrow ListArray: flat values + offsets
    offsets = column.offsets.to_numpy().astype(np.int64)
    tokens = column.values.to_numpy().astype(np.int64)
    docs = dset.data.column("doc").to_numpy(zero_copy_only=False).astype(str)
    text = TokenizedText(tokens, offsets[:-1] - offsets[0], docs)
    for array in (text.tokens, text.sentence_starts, text.sentence_docs):
        array.flags.writeable = False  # shared between callers through _LOADED
    return text


def _build_cache(path: Path, heldout_fraction: float, nltk_data, tokenizer=None) -> None:
    import datasets

    docs = read_brown(nltk_data)
    split = split_documents([(d, len(s)) for d, s in docs], heldout_fraction)
    tokenizer = tokenizer or load_gpt2_tokenizer()
    sides = {}
    for side, names in (("train", set(split.train_docs)), ("heldout", set(split.heldout_docs))):
        rows = [(doc, sent) for doc, sents in docs if doc in names for sent in sents]
        ids = tokenizer([s for _, s in rows], add_special_tokens=False)["input_ids"]
        sides[side] = datasets.Dataset.from_dict(
            {"doc": [d for d, _ in rows], "ids": ids},
            features=datasets.Features({"doc": datasets.Value("string"),
                                        "ids": datasets.Sequence(datasets.Value("int32"))}))
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # left over from a killed run
    datasets.DatasetDict(sides).save_to_disk(str(tmp / "arrow"))
    (tmp / "split.json").write_text(json.dumps(split.to_dict()))
    tmp.rename(path)  # atomic: a half-written cache is never read
