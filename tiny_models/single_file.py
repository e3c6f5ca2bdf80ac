"""Tiny single-file checkpoints in the original (non-diffusers) layouts that ComfyUI users download, made
from a tiny diffusers folder so a test can check from_single_file against the folder it came from."""

from __future__ import annotations

import os

# diffusers' convert_wan_transformer_to_diffusers renames by substring, in order; these undo it, applied in
# this order. The builder checks the round trip through diffusers' own converter, so a change there shows.
_WAN_TO_ORIGINAL = (
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("attn2", "cross_attn"),
    ("attn1", "self_attn"),
    (".to_out.0.", ".o."),
    (".to_q.", ".q."),
    (".to_k.", ".k."),
    (".to_v.", ".v."),
    ("ffn.net.0.proj", "ffn.0"),
    ("ffn.net.2", "ffn.2"),
    ("proj_out", "head.head"),
    (".norm2.", ".norm__placeholder."),
    (".norm3.", ".norm2."),
    (".norm__placeholder.", ".norm3."),
)


def _wan_key_to_original(key: str) -> str:
    if key == "scale_shift_table":
        return "head.modulation"
    key = key.replace(".scale_shift_table", ".modulation")
    for new, old in _WAN_TO_ORIGINAL:
        key = key.replace(new, old)
    return key


def build_wan_original_checkpoint(wan_folder: str, dest_file: str, subfolder: str = "transformer") -> str:
    """The tiny Wan transformer (or Wan2.2's `transformer_2` expert) as one .safetensors with the original Wan
    key names, as ComfyUI users keep them in diffusion_models/."""
    from diffusers import WanTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
    from safetensors.torch import save_file

    state = WanTransformer3DModel.from_pretrained(wan_folder, subfolder=subfolder).state_dict()
    original = {_wan_key_to_original(k): v.contiguous() for k, v in state.items()}
    back = convert_wan_transformer_to_diffusers(dict(original))
    if set(back) != set(state):
        raise AssertionError(f"Wan key inversion does not round-trip: {sorted(set(back) ^ set(state))[:5]}")
    os.makedirs(os.path.dirname(dest_file), exist_ok=True)
    save_file(original, dest_file)
    return dest_file
