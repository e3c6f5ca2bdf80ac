"""A LATENT dict as one .safetensors file and back, with every key decoding needs.

ComfyUI core's SaveLatent keeps only `samples`; this pack's latents also carry the family, the frame count and
(LTX) the decode noise and timestep, without which a decode differs or is refused. Tensors are stored as
tensors; every other value goes into the safetensors header as JSON. Reading uses safetensors only, so a file
from elsewhere can never run code (no pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from ..errors import DVInputError
from .writer import publish_counted, split_prefix

FORMAT_KEY = "dv_latent_format"
FORMAT_VERSION = 1  # bump when the layout changes; a reader refuses versions newer than its own
VALUES_KEY = "dv_values"
EXTENSION = "safetensors"
UNSAVED_PREFIX = "DiffusersVideo/unsaved_latent"
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on a header


class LatentFileError(Exception):
    """A file that is not a readable latent of this pack; the node turns it into a DVInputError."""


@dataclass
class SavedLatent:
    path: str
    filename: str
    subfolder: str


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json_value(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json_value(item) for key, item in value.items())
    return False


def split_latent(latent: dict[str, Any], input_name: str = "samples") -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors on the CPU, the other values) of a LATENT dict; a value neither can hold is refused."""
    import torch

    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise DVInputError(input_name, "this is not a LATENT.", "the output of DVSampler or DVLoadLatent.")
    tensors, values = {}, {}
    for key, value in latent.items():
        if isinstance(value, torch.Tensor):
            # A copy: safetensors refuses tensors that share memory, and the latent may live on the GPU.
            tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        elif _is_json_value(value):
            values[key] = value
        else:
            raise DVInputError(input_name, f"the latent's '{key}' holds a {type(value).__name__} value, which a latent "
                               "file cannot keep.", "tensors, or str/int/float/bool/None values and lists of them.")
    return tensors, values


def write_latent(latent: dict[str, Any], output_dir: str, filename_prefix: str,
                 extra_metadata: dict[str, str] | None = None) -> SavedLatent:
    """Write the latent as <prefix>_<counter>.safetensors under output_dir; never overwrites, never half-written."""
    from safetensors.torch import save

    folder, subfolder, name = split_prefix(output_dir, filename_prefix)
    tensors, values = split_latent(latent)
    metadata = dict(extra_metadata or {})
    metadata[FORMAT_KEY] = str(FORMAT_VERSION)
    metadata[VALUES_KEY] = json.dumps(values)
    os.makedirs(folder, exist_ok=True)
    # As video_io.writer: a hidden temporary name in the same folder, published without ever replacing a file
    # (a hard link, or an exclusive create and a copy): an interrupted write leaves nothing, and racing runs
    # both keep their files.
    tmp_path = os.path.join(folder, f".{name}.{os.getpid()}.partial.{EXTENSION}")
    try:
        # Bytes written by open(), not save_file: that creates files 0600, unlike every other output file.
        with open(tmp_path, "wb") as f:
            f.write(save(tensors, metadata=metadata))
        filename = publish_counted(tmp_path, folder, name, EXTENSION)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
    return SavedLatent(os.path.join(folder, filename), filename, subfolder)


def is_latent_file(path: str) -> bool:
    """Whether the file's safetensors header names this format: a few bytes read, no tensors, for listings."""
    import struct

    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > MAX_HEADER_BYTES:
                return False
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return False
    return isinstance(header, dict) and FORMAT_KEY in (header.get("__metadata__") or {})


def read_latent(path: str) -> dict[str, Any]:
    """The LATENT dict written by write_latent, every key back; LatentFileError for anything else."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            if FORMAT_KEY not in metadata:
                raise LatentFileError("it is a safetensors file, but not a latent saved by DVSaveLatent (no "
                                      f"'{FORMAT_KEY}' in its header)")
            version = metadata[FORMAT_KEY]
            if not version.isdigit() or int(version) > FORMAT_VERSION:
                raise LatentFileError(f"it is latent format {version}, newer than this pack reads "
                                      f"({FORMAT_VERSION}); update ComfyUI-DiffusersVideo")
            latent: dict[str, Any] = {key: handle.get_tensor(key) for key in handle.keys()}
            values = json.loads(metadata.get(VALUES_KEY, "{}"))
    except LatentFileError:
        raise
    except Exception as error:  # noqa: BLE001 - truncated, garbled or not safetensors at all: all one answer
        raise LatentFileError(f"it could not be read as a safetensors file ({error})") from None
    if not isinstance(values, dict):
        raise LatentFileError(f"its '{VALUES_KEY}' header entry is damaged")
    latent.update(values)
    if "samples" not in latent or latent["samples"].ndim != 5:
        raise LatentFileError("it holds no video latent 'samples' [B, C, F, H, W]")
    return latent


def rescue(latent: dict[str, Any], output_dir: str) -> str:
    """Save a latent whose decode failed, and say where for the error message (or why it could not be saved)."""
    try:
        saved = write_latent(latent, output_dir, UNSAVED_PREFIX)
    except Exception as error:  # noqa: BLE001 - the decode's own error matters more than this one
        return f"The latent could not be saved ({error})."
    return (f"The latent was saved to {saved.path}: DVLoadLatent (name '{os.path.join(saved.subfolder, saved.filename)}"
            " [output]') -> DVVAEDecode decodes it again without sampling.")
