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


def need_gguf(input_name: str) -> None:
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
    need_gguf(input_name)
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


def transformers_model_type(path: str) -> str | None:
    """The model_type transformers would build for a GGUF file, from its metadata alone (no tensors read)."""
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    try:
        return load_gguf_checkpoint(path, return_tensors=False).get("config", {}).get("model_type")
    except Exception:  # noqa: BLE001 - an architecture transformers does not know
        return None
