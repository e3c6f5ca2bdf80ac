"""A tiny single-file SD1.5 checkpoint in the original (LDM) layout, made from the tiny diffusers SD1.5 folder,
so a test can load it the way ComfyUI users' .safetensors checkpoints are loaded.

diffusers ships only the LDM -> diffusers direction (and the plain renames in DIFFUSERS_TO_LDM_MAPPING); the
block layout below is the standard LDM one. The builder converts the result back with diffusers' own
converters and insists on the same tensors, so a mistake here cannot pass silently.
"""

from __future__ import annotations

import os
from typing import Any

UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
               "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
              "conv_shortcut": "nin_shortcut"}
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _rename_inner(rest: str, table: dict[str, str]) -> str:
    for new, old in table.items():
        if rest == new or rest.startswith(new + "."):
            return old + rest[len(new):]
    return rest


def unet_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    plain = DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]
    per_level = int(config["layers_per_block"]) + 1
    levels = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    for key, value in state.items():
        parts = key.split(".")
        if key in plain:
            ldm = plain[key]
        elif parts[0] == "down_blocks":
            level, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "resnets":
                ldm = f"input_blocks.{level * per_level + index + 1}.0.{_rename_inner(rest, UNET_RESNET)}"
            elif kind == "attentions":
                ldm = f"input_blocks.{level * per_level + index + 1}.1.{rest}"
            else:  # downsamplers.0.conv
                ldm = f"input_blocks.{(level + 1) * per_level}.0.op.{'.'.join(parts[5:])}"
        elif parts[0] == "mid_block":
            kind, index, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                ldm = f"middle_block.{2 * index}.{_rename_inner(rest, UNET_RESNET)}"
            else:
                ldm = f"middle_block.1.{rest}"
        elif parts[0] == "up_blocks":
            level, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            block = level * per_level
            if kind == "resnets":
                ldm = f"output_blocks.{block + index}.0.{_rename_inner(rest, UNET_RESNET)}"
            elif kind == "attentions":
                ldm = f"output_blocks.{block + index}.1.{rest}"
            else:  # upsamplers.0.conv: after the attention of the level's last block, where there is one
                has_attention = any(k.startswith(f"up_blocks.{level}.attentions.") for k in state)
                ldm = f"output_blocks.{block + per_level - 1}.{2 if has_attention else 1}.conv.{'.'.join(parts[5:])}"
        else:
            raise KeyError(f"no LDM name for UNet key {key} (levels={levels})")
        out[f"model.diffusion_model.{ldm}"] = value
    return out


def vae_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    plain = DIFFUSERS_TO_LDM_MAPPING["vae"]
    levels = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    for key, value in state.items():
        parts = key.split(".")
        if key in plain:
            ldm = plain[key]
        elif parts[1] == "mid_block":
            kind, index, rest = parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "resnets":
                ldm = f"{parts[0]}.mid.block_{index + 1}.{_rename_inner(rest, VAE_RESNET)}"
            else:
                ldm = f"{parts[0]}.mid.attn_1.{_rename_inner(rest, VAE_ATTENTION)}"
                if value.ndim == 2:  # LDM keeps the attention projections as 1x1 convolutions
                    value = value[:, :, None, None]
        elif parts[1] == "down_blocks":
            level, kind = int(parts[2]), parts[3]
            if kind == "resnets":
                ldm = f"encoder.down.{level}.block.{parts[4]}.{_rename_inner('.'.join(parts[5:]), VAE_RESNET)}"
            else:
                ldm = f"encoder.down.{level}.downsample.conv.{'.'.join(parts[6:])}"
        elif parts[1] == "up_blocks":
            level, kind = levels - 1 - int(parts[2]), parts[3]  # LDM numbers the decoder's levels from the bottom
            if kind == "resnets":
                ldm = f"decoder.up.{level}.block.{parts[4]}.{_rename_inner('.'.join(parts[5:]), VAE_RESNET)}"
            else:
                ldm = f"decoder.up.{level}.upsample.conv.{'.'.join(parts[6:])}"
        else:
            raise KeyError(f"no LDM name for VAE key {key}")
        out[f"first_stage_model.{ldm}"] = value
    return out


def build_sd15_checkpoint(sd_folder: str, dest_file: str) -> str:
    """The tiny SD1.5 folder as one LDM-layout .safetensors (UNet, VAE and CLIP text encoder)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
    from safetensors.torch import save_file

    pipe = StableDiffusionPipeline.from_pretrained(sd_folder)
    unet = {k: v.contiguous() for k, v in pipe.unet.state_dict().items()}
    vae = {k: v.contiguous() for k, v in pipe.vae.state_dict().items()}
    checkpoint = {**unet_to_ldm(unet, dict(pipe.unet.config)), **vae_to_ldm(vae, dict(pipe.vae.config))}
    text = pipe.text_encoder.state_dict()
    # Original checkpoints name the CLIP weights text_model.*; transformers 5 drops that level in memory.
    checkpoint.update({f"cond_stage_model.transformer.{k if k.startswith('text_model.') else 'text_model.' + k}":
                       v.contiguous() for k, v in text.items()})
    for name, back, original in (
        ("UNet", convert_ldm_unet_checkpoint(dict(checkpoint), dict(pipe.unet.config)), unet),
        ("VAE", convert_ldm_vae_checkpoint(dict(checkpoint), dict(pipe.vae.config)), vae),
    ):
        if set(back) != set(original) or any(not torch.equal(back[k], original[k]) for k in original):
            raise AssertionError(f"{name} LDM layout does not round-trip: {sorted(set(back) ^ set(original))[:5]}")
    os.makedirs(os.path.dirname(dest_file), exist_ok=True)
    save_file(checkpoint, dest_file)
    return dest_file
