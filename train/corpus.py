"""The Brown corpus, read offline from an NLTK data folder, and its train / held-out split.

The split follows the authors' code (edkins/universality, training/corpus.py): the first 80% of
``brown.sents()`` (file order ca01..cr09) trains, the rest is held out. We move the cut forward to the
next document boundary so that no document is shared: analysis prompts then come from documents the
models never saw.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from train.errors import UserError
from train.config import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NLTK_DATA = PROJECT_ROOT.parent / "shared" / "nltk_data"

_STARTS_WORD = re.compile(r"^[a-zA-Z0-9]")


class CorpusNotFound(UserError, FileNotFoundError):
    """Brown is not where we looked; the message says where we looked and how to provide it."""


def candidate_data_dirs(nltk_data: str | Path | None = None) -> Iterator[Path]:
    """Where to look for ``corpora/brown(.zip)``, in order, first match wins: the option; else $NLTK_DATA, ../shared
    beside the checkout, and NLTK's own search path (``nltk.data.path``: ~/nltk_data, the Python prefix's
    share/nltk_data, /usr/share/nltk_data, ..., where ``python -m nltk.downloader brown`` puts it). NLTK's path is
    read only when the folders before it miss: importing nltk takes seconds, more than a cached run's whole start."""
    if nltk_data is not None:
        yield Path(nltk_data)
        return
    explicit = [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p] + [DEFAULT_NLTK_DATA]
    yield from dict.fromkeys(explicit)
    yield from (root for root in dict.fromkeys(nltk_search_path()) if root not in explicit)  # reached only on a miss


def nltk_search_path() -> list[Path]:
    """NLTK's data path as NLTK itself computes it (it reads $NLTK_DATA and the home folder at import)."""
    import nltk

    return [Path(p).expanduser() for p in nltk.data.path]


def find_brown(nltk_data: str | Path | None = None) -> Path:
    """Path of ``brown.zip`` or the ``brown/`` folder inside an NLTK data dir."""
    roots = []
    for root in candidate_data_dirs(nltk_data):
        roots.append(root)
        for name in ("brown.zip", "brown"):
            if (root / "corpora" / name).exists():
                return root / "corpora" / name
    where = roots[0] if nltk_data is not None else "~/nltk_data"
    raise CorpusNotFound(
        f"Brown corpus not found (no corpora/brown.zip in {', '.join(map(str, roots))}); fetch it with: "
        f"python -m nltk.downloader -d {where} brown"
    )


def download_brown(nltk_data: str | Path | None = None, index_url: str | None = None) -> Path:
    """Fetch Brown with NLTK's own downloader (``train fleet --download``) into ``nltk_data`` (default
    ``~/nltk_data``, the first folder NLTK searches), and return its path. ``index_url``: another NLTK index
    (default: NLTK's, or ``$TOYHEADS_NLTK_INDEX``)."""
    import nltk

    target = Path(nltk_data).expanduser() if nltk_data is not None else Path("~/nltk_data").expanduser()
    url = index_url or os.environ.get("TOYHEADS_NLTK_INDEX")
    downloader = nltk.downloader.Downloader(server_index_url=url) if url else nltk.downloader.Downloader()
    try:
        fetched = downloader.download("brown", download_dir=str(target), quiet=True, raise_on_error=True)
    except Exception as err:  # noqa: BLE001 - no network, a bad index, a bad checksum: one line each
        raise CorpusNotFound(f"NLTK's downloader could not fetch brown into {target} from "
                             f"{url or 'its default index'} ({str(err).strip().splitlines()[0][:200]})") from None
    if not fetched:
        raise CorpusNotFound(f"NLTK's downloader could not fetch brown into {target} from {url or 'its default index'}")
    return find_brown(target)


def join_words(words: list[str]) -> str:
    """Undo Brown's tokenisation: a space before each word that starts with a letter or digit (authors' rule)."""
    out: list[str] = []
    for word in words:
        if out and _STARTS_WORD.match(word):
            out.append(" ")
        out.append(word)
    return "".join(out)


def read_brown(nltk_data: str | Path | None = None) -> list[tuple[str, list[str]]]:
    """``[(file_id, [sentence text, ...]), ...]`` in NLTK file order (the order of ``brown.sents()``)."""
    import nltk
    from nltk.corpus.reader import CategorizedTaggedCorpusReader
    from nltk.data import FileSystemPathPointer, ZipFilePathPointer

    path = find_brown(nltk_data)
    root = str(path.parent.parent)
    if root not in nltk.data.path:  # NLTK only opens files under its data path
        nltk.data.path.insert(0, root)
    try:
        pointer = ZipFilePathPointer(str(path), "brown/") if path.suffix == ".zip" else FileSystemPathPointer(str(path))
        reader = CategorizedTaggedCorpusReader(pointer, r"c[a-z]\d\d", cat_file="cats.txt", tagset="brown",
                                               encoding="ascii")
        return [(fid, [join_words(s) for s in reader.sents(fid)]) for fid in reader.fileids()]
    except PermissionError as err:  # NLTK refuses data dirs writable by group/others
        raise CorpusNotFound(f"NLTK refused {path} ({err}); run: chmod -R go-w {root}") from err
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:  # truncated or corrupt archive
        raise CorpusNotFound(f"{path} is truncated or corrupt ({err}); replace it with a complete copy of "
                             f"NLTK's brown.zip") from err


@dataclass(frozen=True)
class Split:
    """Which documents train and which are held out, with the sentence index of the cut."""

    train_docs: tuple[str, ...]
    heldout_docs: tuple[str, ...]
    cut_sentence: int  # index into brown.sents() of the first held-out sentence
    n_sentences: int

    def to_dict(self) -> dict:
        return {"train_docs": list(self.train_docs), "heldout_docs": list(self.heldout_docs),
                "cut_sentence": self.cut_sentence, "n_sentences": self.n_sentences}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def split_documents(doc_lengths: list[tuple[str, int]], heldout_fraction: float) -> Split:
    """Cut at the first document boundary at or after ``(1 - heldout_fraction)`` of all sentences."""
    total = sum(n for _, n in doc_lengths)
    target = int(total * (1 - heldout_fraction))
    seen, cut_doc = 0, len(doc_lengths)
    for i, (_, n) in enumerate(doc_lengths):
        if seen >= target:
            cut_doc = i
            break
        seen += n
    if cut_doc in (0, len(doc_lengths)):
        raise ConfigError(f"heldout_fraction {heldout_fraction} leaves one side of the split empty")
    names = [d for d, _ in doc_lengths]
    return Split(tuple(names[:cut_doc]), tuple(names[cut_doc:]), seen, total)
