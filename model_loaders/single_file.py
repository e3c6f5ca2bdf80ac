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
CONFIG_FROM_HUB = "from Hugging Face (detected model)"

# diffusers model type (prefix) -> (family id, diffusers class) per role. Only classes diffusers can load
# from a single file, for families this pack has.
MODEL_TYPES: dict[str, tuple[str, str]] = {
    "wan-t2v": ("wan", "WanTransformer3DModel"),
    "wan-i2v": ("wan", "WanTransformer3DModel"),
    "ltx-video": ("ltx", "LTXVideoTransformer3DModel"),
    "hunyuan-video": ("hunyuanvideo", "HunyuanVideoTransformer3DModel"),
    "mochi-1": ("mochi", "MochiTransformer3DModel"),
}
# diffusers' detection reports the Wan VAE as a Wan model type; the VAE's own key tells them apart.
VAE_KEYS: dict[str, tuple[str, str]] = {
    "decoder.middle.0.residual.0.gamma": ("wan", "AutoencoderKLWan"),
}


def is_single_file(name: str) -> bool:
    return name.lower().endswith(SINGLE_FILE_EXTENSIONS)


def meta_state_dict(path: str) -> dict[str, Any]:
    """Every tensor of the file as a meta tensor of the right shape: enough for detection, no data read."""
    import torch
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return {key: torch.empty(f.get_slice(key).get_shape(), device="meta") for key in f.keys()}


def detect(path: str, role: str, node: str, input_name: str) -> tuple[Family, str]:
    """(family, diffusers class) of a single-file DiT/UNet ("model") or VAE ("vae")."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    label = os.path.basename(path)
    try:
        meta = meta_state_dict(path)
    except Exception as error:  # noqa: BLE001 - safetensors raises several types for a bad header
        raise DVInputError(node, input_name, f"'{label}' is not a readable .safetensors file ({error}).",
                           "a complete .safetensors file.") from error
    found: tuple[str, str] | None = None
    if role == "vae":
        found = next((hit for key, hit in VAE_KEYS.items() if key in meta or f"vae.{key}" in meta), None)
    else:
        try:
            model_type = infer_diffusers_model_type(meta)
        except Exception:  # noqa: BLE001 - detection reads shapes of keys it expects; other files may lack them
            model_type = ""
        found = next((hit for prefix, hit in MODEL_TYPES.items() if model_type.startswith(prefix)), None)
    known = {fam.id: fam for fam in all_families()}
    table = VAE_KEYS if role == "vae" else MODEL_TYPES
    readable = sorted({known[f].label for f, _ in table.values() if f in known})
    if found is None or found[0] not in known:
        raise DVInputError(node, input_name, f"diffusers cannot tell which {'VAE' if role == 'vae' else 'model'} "
                           f"'{label}' is from its tensors.",
                           f"a single-file {'VAE' if role == 'vae' else 'transformer'} of {', '.join(readable)}, "
                           "or a diffusers folder.")
    return known[found[0]], found[1]


def load(path: str, role: str, config_folder: str | None, dtype, node: str, input_name: str):
    """(module, family) loaded with from_single_file, its config from config_folder's subfolder or the Hub."""
    import diffusers

    family, class_name = detect(path, role, node, input_name)
    cls = getattr(diffusers, class_name)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if config_folder is not None:
        subfolder = "vae" if role == "vae" else _denoiser_subfolder(config_folder)
        kwargs.update(config=config_folder, subfolder=subfolder)
    try:
        module = cls.from_single_file(path, **kwargs)
    except Exception as error:  # noqa: BLE001 - hub, config and shape errors all end here
        where = f"the config in {config_folder}" if config_folder else "the config of the detected model's repo"
        raise DVInputError(node, "config" if config_folder else input_name,
                           f"'{os.path.basename(path)}' ({family.label}, {class_name}) could not be loaded with "
                           f"{where} ({type(error).__name__}: {str(error)[:300]}).",
                           "a local diffusers folder of the same model in 'config' (needed offline), or a "
                           "file that matches the chosen config.") from error
    return module.eval(), family


def _denoiser_subfolder(folder: str) -> str:
    return "transformer" if os.path.isdir(os.path.join(folder, "transformer")) else "unet"
