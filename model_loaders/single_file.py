"""Single .safetensors files (ComfyUI's diffusion_models/ and vae/ folders) through diffusers' from_single_file.

The file's own tensors say what it is: diffusers' `infer_diffusers_model_type` reads key names and shapes,
never the file name. It is run on meta tensors built from the safetensors header, so detection reads no
weights. A single file carries no config: diffusers takes it from the detected model's Hugging Face repo
(its cache, or the network), or from a local diffusers folder of the same family that the user names.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import DVInputError
from ..families import Family, all_families

SINGLE_FILE_EXTENSIONS = (".safetensors", ".sft")
# Tensors only ComfyUI's "fp8_scaled" files carry (per-layer scales beside fp8 weights): diffusers' single-file
# converters do not apply them, so such a file would load with wrong weights.
COMFY_SCALED_SUFFIXES = (".scale_weight", ".scale_input", ".weight_scale", ".comfy_quant")
CONFIG_FROM_HUB = "from Hugging Face (detected model)"
# GGUF (city96's quantized DiTs in diffusion_models/): loaded quantized through diffusers' GGUF quantizer, each
# quantized Linear dequantized to the compute dtype in its forward. Only for the DiT: GGUF VAEs are not made.
GGUF_EXTENSION = ".gguf"


def model_types() -> dict[str, tuple[Family, str]]:
    """diffusers' single-file model type (prefix) -> (family, class): what each family module declares it
    can load from one file."""
    return {t: (fam, cls) for fam in all_families() for t, cls in fam.single_file_types.items()}


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
        from . import gguf_files

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


def detect(path: str, role: str, input_name: str) -> tuple[Family, str]:
    """(family, diffusers class) of a single-file DiT/UNet ("model") or VAE ("vae")."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    label = os.path.basename(path)
    if is_gguf(path):
        from . import gguf_files

        gguf_files.check(path, role, input_name)
    meta = read_meta(path, label, input_name)
    scaled = next((key for key in meta if key == "scaled_fp8" or key.endswith(COMFY_SCALED_SUFFIXES)), None)
    if scaled is not None:
        raise DVInputError(input_name, f"'{label}' is in ComfyUI's own scaled-fp8 format (it has '{scaled}'), "
                           "which diffusers cannot read.",
                           "the bf16/fp16 (or plain fp8_e4m3fn) .safetensors of the same model, or its diffusers "
                           "folder; the loader's 'weights' input stores it in fp8 after loading.")
    found: tuple[Family, str] | None = None
    table = vae_keys() if role == "vae" else model_types()
    if role == "vae":
        found = next((hit for key, hit in table.items() if key in meta or f"vae.{key}" in meta), None)
    else:
        try:
            model_type = infer_diffusers_model_type(meta)
        except Exception:  # noqa: BLE001 - detection reads shapes of keys it expects; other files may lack them
            model_type = ""
        found = next((hit for prefix, hit in table.items() if model_type.startswith(prefix)), None)
    if found is None:
        readable = sorted({fam.label for fam, _ in table.values()})
        if is_gguf(path):
            from . import gguf_files

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

    family, class_name = detect(path, role, input_name)
    cls = getattr(diffusers, class_name)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if is_gguf(path):
        from diffusers import GGUFQuantizationConfig

        kwargs["quantization_config"] = GGUFQuantizationConfig(compute_dtype=dtype)
    if config_folder is not None:
        if subfolder is None or not os.path.isdir(os.path.join(config_folder, subfolder)):
            subfolder = "vae" if role == "vae" else _denoiser_subfolder(config_folder)
        kwargs.update(config=config_folder, subfolder=subfolder)
    try:
        module = cls.from_single_file(path, **kwargs)
    except Exception as error:  # noqa: BLE001 - hub, config and shape errors all end here
        where = f"the config in {config_folder}" if config_folder else "the config of the detected model's repo"
        raise DVInputError("config" if config_folder else input_name,
                           f"'{os.path.basename(path)}' ({family.label}, {class_name}) could not be loaded with "
                           f"{where} ({type(error).__name__}: {plain(str(error))}).",
                           "a local diffusers folder of the same model in 'config' (needed offline), or a "
                           "file that matches the chosen config.") from error
    return module.eval(), family


def _denoiser_subfolder(folder: str) -> str:
    return "transformer" if os.path.isdir(os.path.join(folder, "transformer")) else "unet"
