"""Single .safetensors files (ComfyUI's diffusion_models/ and vae/ folders) through diffusers' from_single_file.

The file's own tensors say what it is: diffusers' `infer_diffusers_model_type` reads key names and shapes,
never the file name. It is run on meta tensors built from the safetensors header, so detection reads no
weights. A single file carries no config: diffusers takes it from the detected model's Hugging Face repo
(its cache, or the network), or from a local diffusers folder of the same family that the user names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import DVInputError
from ..families import Family, all_families
from . import gguf_files

SINGLE_FILE_EXTENSIONS = (".safetensors", ".sft")
# Tensors only ComfyUI's "fp8_scaled" files carry (per-layer scales beside fp8 weights): diffusers' single-file
# converters do not apply them, so such a file would load with wrong weights.
COMFY_SCALED_SUFFIXES = (".scale_weight", ".scale_input", ".weight_scale", ".comfy_quant")
CONFIG_FROM_HUB = "from Hugging Face (detected model)"
# GGUF (city96's quantized DiTs in diffusion_models/): loaded quantized through diffusers' GGUF quantizer, each
# quantized Linear dequantized to the compute dtype in its forward. Only for the DiT: GGUF VAEs are not made.
GGUF_EXTENSION = ".gguf"


def model_types() -> dict[str, list[tuple[Family, str]]]:
    """diffusers' single-file model type (prefix) -> [(family, class)], in family order: what each family module
    declares it can load from one file. Several families can read one layout (SkyReels-V2's DiT is Wan's): the
    config folder's denoiser class picks among them, else the first (the layout's own family)."""
    table: dict[str, list[tuple[Family, str]]] = {}
    for fam in all_families():
        for model_type, cls in fam.single_file_types.items():
            table.setdefault(model_type, []).append((fam, cls))
    return table


def vae_keys() -> dict[str, tuple[Family, str]]:
    """A tensor name only one family's VAE has -> (family, class)."""
    return {k: (fam, cls) for fam in all_families() for k, cls in fam.single_file_vae_keys.items()}


def is_single_file(name: str, gguf: bool = False) -> bool:
    """A single-file checkpoint; `gguf` also counts .gguf files (the DiT loader reads them, others do not)."""
    return name.lower().endswith(SINGLE_FILE_EXTENSIONS + ((GGUF_EXTENSION,) if gguf else ()))


def is_gguf(name: str) -> bool:
    return name.lower().endswith(GGUF_EXTENSION)


def meta_state_dict(path: str) -> dict[str, Any]:
    """Every tensor of the file as a meta tensor of the right shape: enough for detection, no data read."""
    import torch
    from safetensors import safe_open

    if is_gguf(path):
        return {name: torch.empty(shape, device="meta") for name, shape in gguf_files.shapes(path).items()}

    with safe_open(path, framework="pt") as f:
        return {key: torch.empty(f.get_slice(key).get_shape(), device="meta") for key in f.keys()}


def read_meta(path: str, label: str, input_name: str) -> dict[str, Any]:
    """meta_state_dict, a damaged file answered with what is wrong (truncated: expected and actual bytes)."""
    from .file_checks import plain, safetensors_problem

    try:
        return meta_state_dict(path)
    except Exception as error:  # noqa: BLE001 - safetensors raises several types for a bad header
        kind = "GGUF" if is_gguf(path) else ".safetensors"
        problem = (None if is_gguf(path) else safetensors_problem(path)) or plain(str(error))
        raise DVInputError(input_name, f"'{label}' is not a readable {kind} file: {problem}.",
                           f"re-download {label} (a complete {kind} file).") from error


def detect(path: str, role: str, input_name: str, config_class: str | None = None) -> tuple[Family, str]:
    """(family, diffusers class) of a single-file DiT/UNet ("model") or VAE ("vae"); among the families that
    read the detected layout, the one whose class is `config_class` (the config folder's denoiser) if any."""
    hits = readers(path, role, input_name)
    return next((hit for hit in hits if hit[1] == config_class), hits[0])


def readers(path: str, role: str, input_name: str) -> list[tuple[Family, str]]:
    """Every (family, diffusers class) that can load the single file, the layout's own family first; refused,
    naming the input, when none can."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    label = os.path.basename(path)
    if is_gguf(path):
        gguf_files.check(path, role, input_name)
    meta = read_meta(path, label, input_name)
    scaled = next((key for key in meta if key == "scaled_fp8" or key.endswith(COMFY_SCALED_SUFFIXES)), None)
    if scaled is not None:
        raise DVInputError(input_name, f"'{label}' is in ComfyUI's own scaled-fp8 format (it has '{scaled}'), "
                           "which diffusers cannot read.",
                           "the bf16/fp16 (or plain fp8_e4m3fn) .safetensors of the same model, or its diffusers "
                           "folder; the loader's 'weights' input stores it in fp8 after loading.")
    found: list[tuple[Family, str]] = []
    vaes, models = (vae_keys(), {}) if role == "vae" else ({}, model_types())
    if role == "vae":
        found = [hit for key, hit in vaes.items() if key in meta or f"vae.{key}" in meta][:1]
    else:
        try:
            model_type = infer_diffusers_model_type(meta)
        except Exception:  # noqa: BLE001 - detection reads shapes of keys it expects; other files may lack them
            model_type = ""
        if not any(model_type.startswith(prefix) for prefix in models):
            model_type = next((t for fam in all_families() for key, t in fam.single_file_model_keys.items()
                               if key in meta), model_type)
        found = next((hits for prefix, hits in models.items() if model_type.startswith(prefix)), [])
    if not found:
        readable = sorted({fam.label for fam, _ in vaes.values()} | {fam.label for hits in models.values()
                                                                       for fam, _ in hits})
        if is_gguf(path):
            label = f"{label} (GGUF architecture '{gguf_files.architecture(path)}')"
        raise DVInputError(input_name, f"diffusers cannot tell which {'VAE' if role == 'vae' else 'model'} "
                           f"'{label}' is from its tensors.",
                           f"a single-file {'VAE' if role == 'vae' else 'transformer'} of {', '.join(readable)}, "
                           "or a diffusers folder.")
    return found


def load(path: str, role: str, config_folder: str | None, dtype, input_name: str, subfolder: str | None = None):
    """(module, family) loaded with from_single_file, its config from config_folder's subfolder (`subfolder`,
    else the folder's first denoiser or vae) or the Hub."""
    import diffusers

    from .file_checks import plain

    kwargs: dict[str, Any] = {"dtype": dtype}
    if is_gguf(path):
        from diffusers import GGUFQuantizationConfig

        kwargs["quantization_config"] = GGUFQuantizationConfig(compute_dtype=dtype)
    if config_folder is not None:
        subfolder = config_subfolder(config_folder, role, subfolder)
        kwargs.update(config=config_folder, subfolder=subfolder)
    family, class_name = detect(path, role, input_name, folder_class(config_folder, subfolder))
    cls = getattr(diffusers, class_name)
    try:
        source: Any = path
        if family.single_file_key_renames:
            source = _renamed_checkpoint(path, family.single_file_key_renames)
        module = cls.from_single_file(source, **kwargs)
    except Exception as error:  # noqa: BLE001 - hub, config and shape errors all end here
        where = f"the config in {config_folder}" if config_folder else "the config of the detected model's repo"
        raise DVInputError("config" if config_folder else input_name,
                           f"'{os.path.basename(path)}' ({family.label}, {class_name}) could not be loaded with "
                           f"{where} ({type(error).__name__}: {plain(str(error))}).",
                           "a local diffusers folder of the same model in 'config' (needed offline), or a "
                           "file that matches the chosen config.") from error
    if is_gguf(path):
        _dequantize_outside_linears(module, dtype)
    return module.eval(), family


def _dequantize_outside_linears(module, dtype) -> None:
    """GGUF converters quantize every large 2-D tensor (city96's: over 1024 values), embedding tables too
    (SkyReels-V2 DF's fps_embedding). diffusers dequantizes only in its GGUFLinear layers and leaves such a weight
    in any other layer as raw uint8 blocks, which that layer would compute with: dequantize those once, here."""
    import torch
    from diffusers.quantizers.gguf.utils import GGUFLinear, GGUFParameter, dequantize_gguf_tensor

    for layer in module.modules():
        if isinstance(layer, GGUFLinear):
            continue
        for name, value in list(layer._parameters.items()):
            if isinstance(value, GGUFParameter):
                layer._parameters[name] = torch.nn.Parameter(dequantize_gguf_tensor(value).to(dtype),
                                                             requires_grad=False)


def config_subfolder(config_folder: str, role: str, subfolder: str | None = None) -> str:
    """The subfolder of the config folder a single file takes its config from: `subfolder` where the folder
    has it (Wan2.2's transformer_2), else the folder's first denoiser or its vae."""
    if subfolder is None or not os.path.isdir(os.path.join(config_folder, subfolder)):
        subfolder = "vae" if role == "vae" else _denoiser_subfolder(config_folder)
    return subfolder


def folder_class(config_folder: str | None, subfolder: str | None) -> str | None:
    """The class a config folder's subfolder declares (its config.json's _class_name), or None."""
    import json

    if config_folder is None or subfolder is None:
        return None
    try:
        with open(os.path.join(config_folder, subfolder, "config.json"), encoding="utf-8") as f:
            found = json.load(f).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def _renamed_checkpoint(path: str, renames: Mapping[str, str]) -> dict[str, Any]:
    """The file's tensors (GGUF ones stay quantized) with the family's key renames applied, for
    from_single_file to convert as it converts the file."""
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    return rename_keys(load_single_file_checkpoint(path), renames)


def rename_keys(checkpoint: Mapping[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for key, value in checkpoint.items():
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def _denoiser_subfolder(folder: str) -> str:
    return "transformer" if os.path.isdir(os.path.join(folder, "transformer")) else "unet"
