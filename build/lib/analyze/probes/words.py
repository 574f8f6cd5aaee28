"""Word lists for the token-map probes: antonym pairs (the antonym-heads post) and semantic categories (the L1H5 semantic-head post).

The antonym-heads post: "These words are selected such that each of the studied models' tokenizers outputs a single token per
word", each "lowercase, with a prepended space". Each model's tokenizer filters the lists: a pair is kept only
when both words are one token with a leading space, a category word only when it is; what was dropped is
recorded in ``probes.json``. Probes whose list falls below ``min_pairs`` pairs are NaN with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from train.errors import UserError

DATA = Path(__file__).resolve().parent.parent / "data"
DEFAULT_PAIRS = DATA / "antonyms.txt"
DEFAULT_CATEGORIES = DATA / "categories.yaml"


class WordListError(UserError, ValueError):
    """A word list a user supplied cannot be used; the message lists the offending entries."""


@dataclass(frozen=True)
class WordPairs:
    """Pairs arranged as the seed does: all first words, then all second words (antonym of i is i ± n_pairs)."""

    words: tuple[str, ...]  # [2 * n_pairs]
    token_ids: tuple[int, ...]  # [2 * n_pairs], " word" as one token
    dropped: tuple[str, ...] = ()  # "a/b" pairs whose words are not single tokens for this tokenizer

    @property
    def n_pairs(self) -> int:
        return len(self.words) // 2

    def antonym_index(self, i: int) -> int:
        return (i + self.n_pairs) % len(self.words)


@dataclass(frozen=True)
class Categories:
    """Words grouped by meaning, flattened: ``words[i]`` belongs to category ``labels[i]``."""

    names: tuple[str, ...]
    words: tuple[str, ...]
    token_ids: tuple[int, ...]
    labels: tuple[int, ...]  # index into ``names``
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class WordLists:
    """Both lists, filtered for one tokenizer."""

    pairs: WordPairs
    categories: Categories
    sources: dict = field(default_factory=dict)

    def record(self) -> dict:
        """What ``probes.json`` says about the lists: sizes and what the tokenizer dropped."""
        return {"pairs_file": str(self.sources.get("pairs", DEFAULT_PAIRS)), "n_pairs": self.pairs.n_pairs,
                "dropped_pairs": list(self.pairs.dropped),
                "categories_file": str(self.sources.get("categories", DEFAULT_CATEGORIES)),
                "n_category_words": len(self.categories.words), "n_categories": len(self.categories.names),
                "dropped_category_words": list(self.categories.dropped)}


def single_token_id(word: str, tokenizer) -> int | None:
    """The id of ``" word"`` when the tokenizer spells it as exactly one token, else None."""
    toks = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    return toks[0] if len(toks) == 1 else None


def read_pairs(path: str | Path | None) -> list[tuple[str, str]]:
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
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise WordListError(f"pairs file {path} has no word pairs")
    words = [a for a, _ in pairs] + [b for _, b in pairs]
    if dup := repeated(words):
        raise WordListError(f"{path}: words appear in more than one pair: {', '.join(dup)}")
    return pairs


def load_pairs(path: str | Path | None, tokenizer) -> WordPairs:
    """The pairs of ``path`` whose two words are single tokens for ``tokenizer``."""
    kept, dropped = [], []
    for a, b in read_pairs(path):
        ia, ib = single_token_id(a, tokenizer), single_token_id(b, tokenizer)
        (kept.append((a, b, ia, ib)) if ia is not None and ib is not None else dropped.append(f"{a}/{b}"))
    words = tuple(a for a, *_ in kept) + tuple(b for _, b, *_ in kept)
    ids = tuple(ia for *_, ia, _ in kept) + tuple(ib for *_, ib in kept)
    return WordPairs(words, ids, tuple(dropped))


def repeated(words: list[str]) -> list[str]:
    """Words that occur more than once, sorted: a word list must name each word once."""
    return sorted({w for w in words if words.count(w) > 1})


def load_categories(path: str | Path | None, tokenizer, min_words: int = 2) -> Categories:
    """The categories of ``path``, each reduced to its single-token words; categories left with fewer than
    ``min_words`` are dropped whole."""
    import yaml

    path = Path(path or DEFAULT_CATEGORIES)
    if not path.is_file():
        raise WordListError(f"categories file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or not raw:
        raise WordListError(f"{path} must map category names to lists of words")
    every = [str(w) for items in raw.values() for w in (items or [])]
    if dup := repeated(every):
        raise WordListError(f"{path}: words in more than one place: {', '.join(dup)}")
    names, words, ids, labels, dropped = [], [], [], [], []
    for name, items in raw.items():
        items = [str(w) for w in (items or [])]
        if len(items) < min_words:
            raise WordListError(f"{path}: category {name!r} has {len(items)} words, needs at least {min_words}")
        found = [(w, single_token_id(w, tokenizer)) for w in items]
        kept = [(w, i) for w, i in found if i is not None]
        dropped += [w for w, i in found if i is None]
        if len(kept) < min_words:
            dropped += [w for w, _ in kept]
            continue
        names.append(str(name))
        words += [w for w, _ in kept]
        ids += [i for _, i in kept]
        labels += [len(names) - 1] * len(kept)
    if len(names) < 2:
        raise WordListError(f"{path}: fewer than 2 categories keep {min_words} single-token words under this "
                            f"tokenizer (dropped: {', '.join(dropped)})")
    return Categories(tuple(names), tuple(words), tuple(ids), tuple(labels), tuple(dropped))


def load_word_lists(tokenizer, pairs_path=None, categories_path=None) -> WordLists:
    return WordLists(load_pairs(pairs_path, tokenizer), load_categories(categories_path, tokenizer),
                     {"pairs": pairs_path or DEFAULT_PAIRS, "categories": categories_path or DEFAULT_CATEGORIES})
