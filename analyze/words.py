"""Word lists for the token-map probes: antonym pairs, validated to be single GPT-2 tokens (seed 000)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_PAIRS = Path(__file__).parent / "data" / "antonyms.txt"


class WordListError(ValueError):
    """A word list a user supplied cannot be used; the message lists the offending entries."""


@dataclass(frozen=True)
class WordPairs:
    """Pairs arranged as the seed does: all first words, then all second words (antonym of i is i ± n_pairs)."""

    words: tuple[str, ...]  # [2 * n_pairs]
    token_ids: tuple[int, ...]  # [2 * n_pairs], " word" as one token

    @property
    def n_pairs(self) -> int:
        return len(self.words) // 2

    def antonym_index(self, i: int) -> int:
        return (i + self.n_pairs) % len(self.words)


def single_token_ids(words: list[str], tokenizer) -> list[int]:
    """GPT-2 ids of ``" word"``; any word that is not exactly one token is an error naming them all."""
    ids, bad = [], []
    for w in words:
        toks = tokenizer(" " + w, add_special_tokens=False)["input_ids"]
        (ids.append(toks[0]) if len(toks) == 1 else bad.append(f"{w!r} ({len(toks)} tokens)"))
    if bad:
        raise WordListError(f"these words are not single GPT-2 tokens with a leading space: {', '.join(bad)}")
    return ids


def load_pairs(path: str | Path | None, tokenizer) -> WordPairs:
    path = Path(path or DEFAULT_PAIRS)
    if not path.is_file():
        raise WordListError(f"pairs file {path} does not exist")
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise WordListError(f"{path}:{n}: expected two words, got {line!r}")
        pairs.append(parts)
    if not pairs:
        raise WordListError(f"pairs file {path} has no word pairs")
    words = [a for a, _ in pairs] + [b for _, b in pairs]
    if dup := repeated(words):
        raise WordListError(f"{path}: words appear in more than one pair: {', '.join(dup)}")
    return WordPairs(tuple(words), tuple(single_token_ids(words, tokenizer)))


def repeated(words: list[str]) -> list[str]:
    """Words that occur more than once, sorted: a word list must name each word once."""
    return sorted({w for w in words if words.count(w) > 1})


DEFAULT_CATEGORIES = Path(__file__).parent / "data" / "categories.yaml"


@dataclass(frozen=True)
class Categories:
    """Words grouped by meaning, flattened: ``words[i]`` belongs to category ``labels[i]``."""

    names: tuple[str, ...]
    words: tuple[str, ...]
    token_ids: tuple[int, ...]
    labels: tuple[int, ...]  # index into ``names``


def load_categories(path: str | Path | None, tokenizer, min_words: int = 2) -> Categories:
    import yaml

    path = Path(path or DEFAULT_CATEGORIES)
    if not path.is_file():
        raise WordListError(f"categories file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or not raw:
        raise WordListError(f"{path} must map category names to lists of words")
    names, words, labels = [], [], []
    for name, items in raw.items():
        items = [str(w) for w in (items or [])]
        if len(items) < min_words:
            raise WordListError(f"{path}: category {name!r} has {len(items)} words, needs at least {min_words}")
        names.append(str(name))
        words += items
        labels += [len(names) - 1] * len(items)
    if dup := repeated(words):
        raise WordListError(f"{path}: words in more than one place: {', '.join(dup)}")
    return Categories(tuple(names), tuple(words), tuple(single_token_ids(words, tokenizer)), tuple(labels))
