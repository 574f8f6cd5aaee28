import numpy as np
import pytest

from train.corpus import CorpusNotFound, find_brown, join_words, split_documents
from train.data import sample_windows, tokenize_brown, window_documents


def test_join_words_follows_authors_rule():
    assert join_words(["He", "said", ",", "``", "no", "''", "."]) == "He said,`` no''."
    assert join_words(["It", "cost", "$", "5", "."]) == "It cost$ 5."


def test_split_is_at_document_boundary_and_deterministic():
    docs = [("a", 10), ("b", 10), ("c", 10), ("d", 10), ("e", 10)]
    split = split_documents(docs, 0.2)
    assert split.train_docs == ("a", "b", "c", "d") and split.heldout_docs == ("e",)
    assert split.sha256 == split_documents(docs, 0.2).sha256
    uneven = split_documents([("a", 7), ("b", 5), ("c", 9)], 0.5)  # 50% of 21 = 10 falls inside "b"
    assert uneven.train_docs == ("a", "b") and uneven.cut_sentence == 12


def test_brown_split_is_disjoint_and_recorded(nltk_data, cache_dir):
    split, train, heldout = tokenize_brown(0.2, nltk_data, cache_dir)
    assert len(split.train_docs) + len(split.heldout_docs) == 500
    assert not set(split.train_docs) & set(split.heldout_docs)
    assert split.n_sentences == 57_340 and split.cut_sentence >= int(0.8 * 57_340)
    assert set(train.sentence_docs) == set(split.train_docs)
    assert set(heldout.sentence_docs) == set(split.heldout_docs)
    assert 1_200_000 < len(train.tokens) + len(heldout.tokens) < 1_350_000  # ~1.28 M GPT-2 tokens
    again, _, _ = tokenize_brown(0.2, nltk_data, cache_dir)  # second call reads the cache
    assert again.sha256 == split.sha256


def test_windows_are_deterministic_and_stay_on_their_side(nltk_data, cache_dir):
    _, train, heldout = tokenize_brown(0.2, nltk_data, cache_dir)
    a = sample_windows(heldout, 100, 17, seed=5)
    assert a.shape == (100, 17) and np.array_equal(a, sample_windows(heldout, 100, 17, seed=5))
    assert not np.array_equal(a, sample_windows(heldout, 100, 17, seed=6))
    assert set(window_documents(heldout, 100, 17, 5)) <= set(heldout.sentence_docs)
    stream = heldout.tokens.tolist() + heldout.tokens[:17].tolist()
    starts = set(heldout.sentence_starts.tolist())
    for window in a[:10]:  # each window is a run of the held-out stream starting at a sentence start
        hits = [s for s in starts if stream[s:s + 17] == window.tolist()]
        assert hits
    with pytest.raises(ValueError, match="only"):
        sample_windows(heldout, heldout.n_sentences + 1, 17, seed=0)


def test_missing_corpus_names_where_it_looked_and_the_command_that_fetches_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NLTK_DATA", raising=False)
    with pytest.raises(CorpusNotFound) as err:
        find_brown(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and message.endswith(f"python -m nltk.downloader -d {tmp_path} brown")
    assert len(message.splitlines()) == 1


def test_brown_is_found_on_nltks_own_search_path(nltk_data, tmp_path, monkeypatch):
    """A user who ran NLTK's downloader into ~/nltk_data (or any folder on nltk.data.path) needs no option: with
    ../shared absent and NLTK_DATA unset, the corpus is found there."""
    import nltk

    from train import corpus

    home = tmp_path / "nltk_data"
    (home / "corpora").mkdir(parents=True)
    (home / "corpora" / "brown.zip").symlink_to(nltk_data / "corpora" / "brown.zip")
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.setattr(corpus, "DEFAULT_NLTK_DATA", tmp_path / "no-shared-here")
    monkeypatch.setattr(nltk.data, "path", [str(home)])
    assert find_brown() == home / "corpora" / "brown.zip"
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])
    with pytest.raises(CorpusNotFound, match="python -m nltk.downloader -d ~/nltk_data brown"):
        find_brown()


def test_nltk_data_environment_variable(nltk_data, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(nltk_data))
    assert find_brown() == nltk_data / "corpora" / "brown.zip"


@pytest.mark.filterwarnings("ignore:NLTK downloader package metadata is missing SHA256")  # our index gives MD5, as NLTK's
def test_download_fetches_brown_with_nltks_downloader_from_an_index(nltk_data, tmp_path, monkeypatch):
    """`train fleet --download` uses NLTK's own downloader: from an NLTK index listing a brown.zip, the corpus lands
    in the asked folder byte for byte, and the folder then serves as --nltk-data; a checksum that does not match is
    refused in one line. NLTK's downloader refuses loopback and private addresses outright (its SSRF guard), so the
    index and the zip are served from file:// URLs instead of a server on 127.0.0.1."""
    import hashlib
    import shutil

    from train.corpus import download_brown

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(nltk_data / "corpora" / "brown.zip", served / "brown.zip")
    data = (served / "brown.zip").read_bytes()
    unzipped = sum(i.file_size for i in __import__("zipfile").ZipFile(served / "brown.zip").infolist())

    def index(checksum: str) -> str:
        return (f'<?xml version="1.0"?>\n<nltk_data><packages><package id="brown" name="Brown Corpus" '
                f'url="{(served / "brown.zip").as_uri()}" size="{len(data)}" unzipped_size="{unzipped}" '
                f'checksum="{checksum}" subdir="corpora" unzip="0" /></packages><collections /></nltk_data>\n')

    monkeypatch.setenv("NLTK_DATA", f"{served}:{tmp_path / 'fetched'}:{tmp_path / 'again'}")  # NLTK's allowed roots
    (served / "index.xml").write_text(index(hashlib.md5(data).hexdigest()))
    got = download_brown(tmp_path / "fetched", (served / "index.xml").as_uri())
    assert got == tmp_path / "fetched" / "corpora" / "brown.zip" and got.read_bytes() == data
    assert find_brown(tmp_path / "fetched") == got
    (served / "index.xml").write_text(index("0" * 32))
    with pytest.raises(CorpusNotFound) as err:
        download_brown(tmp_path / "again", (served / "index.xml").as_uri())
    assert "could not fetch brown" in str(err.value) and len(str(err.value).splitlines()) == 1


def test_download_fetches_brown_over_http_from_a_server_on_127_0_0_1(nltk_data, tmp_path, monkeypatch):
    """The same download over HTTP, from an NLTK index and a brown.zip served on 127.0.0.1: the bytes that land are
    the served ones. NLTK's SSRF guard refuses loopback addresses; its module switch (``nltk.pathsec.ENFORCE``) is
    turned off for this test only, so its own HTTP download path is what runs."""
    import functools
    import hashlib
    import shutil
    import threading
    import zipfile
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import nltk.pathsec

    from train.corpus import download_brown

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(nltk_data / "corpora" / "brown.zip", served / "brown.zip")
    data = (served / "brown.zip").read_bytes()
    unzipped = sum(i.file_size for i in zipfile.ZipFile(served / "brown.zip").infolist())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    (served / "index.xml").write_text(
        f'<?xml version="1.0"?>\n<nltk_data><packages><package id="brown" name="Brown Corpus" url="{url}/brown.zip" '
        f'size="{len(data)}" unzipped_size="{unzipped}" checksum="{hashlib.md5(data).hexdigest()}" '
        f'subdir="corpora" unzip="0" /></packages><collections /></nltk_data>\n')
    monkeypatch.setattr(nltk.pathsec, "ENFORCE", False)
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "fetched"))
    try:
        with pytest.warns(RuntimeWarning):  # NLTK says it would have refused the loopback address
            got = download_brown(tmp_path / "fetched", f"{url}/index.xml")
    finally:
        server.shutdown()
    assert got == tmp_path / "fetched" / "corpora" / "brown.zip" and got.read_bytes() == data
    assert find_brown(tmp_path / "fetched") == got
