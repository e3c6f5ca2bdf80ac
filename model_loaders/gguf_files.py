"""Reading GGUF files without loading them: tensor shapes for diffusers' model detection, the quant types they
store, and the checks that refuse a file before any weight is read.

A GGUF file lists each tensor's dimensions in ggml order (fastest first): the torch shape is the reverse.
"""

from __future__ import annotations

import functools
import os
from collections import Counter

from ..errors import DVInputError

# Stored unquantized: diffusers keeps these as plain tensors (GGUF's F32/F16).
PLAIN_TYPES = ("F32", "F16")


def _reader(path: str):
    from gguf import GGUFReader

    return GGUFReader(path)


def _need_gguf(input_name: str) -> None:
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise DVInputError(input_name, "reading a .gguf file needs the gguf package, which is not installed.",
                           "pip install gguf (in ComfyUI's Python), or the .safetensors of the model.")


def shapes(path: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> torch shape (the logical one: a quantized tensor's, not its bytes')."""
    return {t.name: tuple(int(d) for d in reversed(t.shape.tolist())) for t in _reader(path).tensors}


def quant_types(path: str) -> Counter:
    """How many tensors the file stores in each GGML type (by name: 'Q8_0', 'F32', ...)."""
    return Counter(t.tensor_type.name for t in _reader(path).tensors)


def architecture(path: str) -> str:
    """The file's `general.architecture` (city96's conversions write wan, ltxv, hyvid, mochi...), or '?'."""
    field = _reader(path).get_field("general.architecture")
    if field is None:
        return "?"
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")


@functools.cache
def dequantizable() -> tuple[str, ...]:
    """The quant types the installed diffusers can dequantize (plain F32/F16 load as tensors)."""
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES

    return tuple(t.name for t in SUPPORTED_GGUF_QUANT_TYPES)


def check(path: str, role: str, input_name: str) -> None:
    """Refuse, naming the input, a GGUF file the loader cannot use: no gguf package, a damaged file, a role
    other than the DiT, or a quant type the installed diffusers cannot dequantize."""
    import diffusers

    from .file_checks import plain

    label = os.path.basename(path)
    _need_gguf(input_name)
    if role != "model":
        raise DVInputError(input_name, f"'{label}' is a GGUF file; only diffusion models (DiTs) load from GGUF.",
                           "the .safetensors of the VAE.")
    try:
        found = quant_types(path)
    except Exception as error:  # noqa: BLE001 - GGUFReader raises ValueError, struct and numpy errors
        raise DVInputError(input_name, f"'{label}' is not a readable GGUF file: {plain(str(error))}.",
                           f"re-download {label} (a complete .gguf file).") from error
    readable = set(dequantizable()) | set(PLAIN_TYPES)
    unknown = sorted(t for t in found if t not in readable)
    if unknown:
        counts = ", ".join(f"{found[t]} tensors in {t}" for t in unknown)
        raise DVInputError(input_name, f"'{label}' stores {counts}, which diffusers {diffusers.__version__} "
                           "cannot dequantize.",
                           f"a GGUF of the model in one of {', '.join(dequantizable())} (Q8_0, Q5_K_M and Q4_K_M "
                           "are common), or its .safetensors.")


def load_text_encoder(name: str, dtype_name: str, input_name: str, config: str):
    """A GGUF text encoder (T5/UMT5 as city96 converts them) from models/text_encoders, with the tokenizer and
    family of the diffusers folder in `config`. transformers dequantizes GGUF weights while loading, so this
    saves disk and download, not memory: the encoder runs at `dtype` like the folder's own."""
    from .. import host
    from ..families import family_for_class
    from ..memory import precision
    from .components import DVTextEncoder
    from .file_checks import plain
    from .loading import (
        _component_class,
        _from_pretrained,
        _resolve,
        _second_text_encoder,
        component_dtype,
        list_pipeline_folders,
        read_json,
    )
    from .single_file import CONFIG_FROM_HUB

    _need_gguf(input_name)
    path = _resolve("text_encoders", name, input_name)
    folders = ", ".join(list_pipeline_folders()) or "none installed"
    if not config or config == CONFIG_FROM_HUB:
        raise DVInputError("config", f"'{name}' is a GGUF text encoder, which brings no tokenizer.",
                           f"the diffusers folder of the model it belongs to (its tokenizer is used): {folders}.")
    folder = _resolve("diffusers", config, "config")
    index_path = os.path.join(folder, "model_index.json")
    index = read_json(index_path, "config") if os.path.isfile(index_path) else {}
    family = family_for_class(index.get("_class_name", ""))
    spec, tok_spec = index.get("text_encoder"), index.get("tokenizer")
    if family is None or not (isinstance(spec, list) and spec[0] and isinstance(tok_spec, list) and tok_spec[0]):
        raise DVInputError("config", f"'{config}' is not a diffusers folder of a supported family with a text "
                           "encoder and tokenizer.", f"one of: {folders}.")
    cls = _component_class(spec[0], spec[1], "config")
    dtype = component_dtype(family, precision.role_of("text_encoder", False), dtype_name)
    # Checked on the metadata first: transformers builds a class from its default config when the file is of
    # another architecture (a 7B LlamaModel for a T5 file), before it reports the mismatch.
    found, expected = _transformers_model_type(path), getattr(cls.config_class, "model_type", None)
    if found != expected:
        raise DVInputError(input_name, f"'{name}' is a GGUF {found or 'of an unknown model'} (architecture "
                           f"'{architecture(path)}'), but the text encoder of '{config}' is {spec[1]} ({expected}).",
                           f"a GGUF of {spec[1]}, or the config folder of the model this encoder belongs to "
                           "(T5/UMT5 GGUFs go with Wan, LTX-Video, Mochi and CogVideoX folders).")
    try:
        module = cls.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=dtype).eval()
    except Exception as error:  # noqa: BLE001 - transformers' GGUF reader raises many types for a foreign file
        raise DVInputError(input_name, f"'{name}' (GGUF architecture '{architecture(path)}') could not be loaded "
                           f"as {spec[1]}, the text encoder of '{config}' ({type(error).__name__}: "
                           f"{plain(str(error))}).",
                           f"a GGUF of {spec[1]} that transformers can read (T5/UMT5 encoders), or the "
                           f"folder's own text_encoder.") from error
    tokenizer = _from_pretrained(_component_class(tok_spec[0], tok_spec[1], "config"),
                                 os.path.join(folder, "tokenizer"), f"{config}/tokenizer", tok_spec[0], "config")
    # A second encoder beside the first (HunyuanVideo's CLIP) comes from the folder, as the family needs both.
    extras = _second_text_encoder(folder, index, f"{config}/text_encoder", "text_encoder", dtype_name, "config",
                                  family)
    return DVTextEncoder(host.ManagedModule(module, name), tokenizer, family, name, extras)


def _transformers_model_type(path: str) -> str | None:
    """The model_type transformers would build for a GGUF file, from its metadata alone (no tensors read)."""
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    try:
        return load_gguf_checkpoint(path, return_tensors=False).get("config", {}).get("model_type")
    except Exception:  # noqa: BLE001 - an architecture transformers does not know
        return None
