"""Hugging Face names: looked up in the local cache, else downloaded on first use, unless the user set
HF_HUB_OFFLINE=1; each failure is one line. The download path is tested against a loopback address where no hub
answers (a real download needs the network, which the tests do not have)."""

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
