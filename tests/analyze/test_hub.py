"""Hugging Face names: looked up in the local cache, else downloaded on first use, unless the user set
HF_HUB_OFFLINE=1; each failure is one line. The download is tested against a fake hub on 127.0.0.1 (the tests have no
network), and a failed download against a loopback port where nothing listens."""

import pytest

from analyze.core.models import resolve_models
from train.checkpoints import CheckpointError


def test_a_name_not_in_the_cache_is_downloaded_and_a_failed_download_is_one_line(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 2)
    with pytest.raises(CheckpointError) as err:
        resolve_models("someone/tiny-model-not-cached")
    message = str(err.value)
    assert "downloading it from http://127.0.0.1:9 failed" in message and len(message.splitlines()) == 1


def test_hf_hub_offline_keeps_the_cache_only_message(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE=1 forbids downloading it; unset it, or download it"):
        resolve_models("someone/tiny-model-not-cached")


class FakeHub:
    """A Hugging Face hub on 127.0.0.1 that serves one repo: the three requests a snapshot download makes (the
    revision's metadata, its file tree, each file)."""

    SHA = "0" * 39 + "1"

    def __init__(self, repo: str, folder):
        import hashlib
        import http.server
        import json
        import threading
        from pathlib import Path

        files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
        self.requests = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, body: bytes, kind="application/octet-stream", send=True):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("X-Repo-Commit", hub.SHA)
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send:
                    self.wfile.write(body)

            def answer(self, send: bool):
                path = self.path.split("?")[0]
                hub.requests.append(path)
                if path.startswith(f"/api/models/{repo}/revision/"):
                    meta = {"id": repo, "modelId": repo, "sha": hub.SHA, "siblings": [{"rfilename": f} for f in files]}
                    return self.reply(json.dumps(meta).encode(), "application/json", send)
                if path.startswith(f"/api/models/{repo}/tree/"):
                    tree = [{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                            for f, b in files.items()]
                    return self.reply(json.dumps(tree).encode(), "application/json", send)
                prefix = f"/{repo}/resolve/"
                name = path[len(prefix):].split("/", 1)[-1] if path.startswith(prefix) else None
                if name in files:
                    return self.reply(files[name], send=send)
                self.send_response(404)
                self.end_headers()

            def do_GET(self):
                self.answer(True)

            def do_HEAD(self):
                self.answer(False)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.slow
def test_a_hub_name_downloads_on_first_use_from_a_hub_on_loopback(tmp_path):
    """`analyze probes --model someone/tiny-gpt2` on a machine whose hub (HF_ENDPOINT) is a fake one on 127.0.0.1: the
    model downloads into the Hugging Face cache on first use and is probed; the second run reads the cache with
    HF_HUB_OFFLINE=1."""
    import os
    import subprocess
    import sys

    import pandas as pd
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from train.tokenizer import load_gpt2_tokenizer

    folder = tmp_path / "repo"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=50_257, n_positions=32, n_embd=16, n_layer=1, n_head=2)).save_pretrained(folder)
    load_gpt2_tokenizer().save_pretrained(str(folder))
    hub = FakeHub("someone/tiny-gpt2", folder)
    try:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
               "HF_HUB_DISABLE_TELEMETRY": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        argv = [sys.executable, "-m", "analyze", "probes", "--model", "someone/tiny-gpt2", "--probes", "patterns",
                "--prompts", "4", "--no-progress", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]
        first = subprocess.run(argv, env=env, capture_output=True, text=True)
        assert first.returncode == 0, first.stderr[-2000:]
        assert any(r.startswith("/someone/tiny-gpt2/resolve/") for r in hub.requests)
        probed = pd.read_csv(tmp_path / "out" / "probes.csv")
        assert list(probed.head_id) == ["someone_tiny-gpt2.L0H0", "someone_tiny-gpt2.L0H1"]
        served = len(hub.requests)
        second = subprocess.run(argv, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr[-2000:]
        assert len(hub.requests) == served  # the cache served it
    finally:
        hub.server.shutdown()
