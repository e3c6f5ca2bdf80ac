"""A tiny Helios folder (as BestWishYsh/Helios-Base), built offline.

Transformer, VAE and scheduler follow diffusers' test (tests/pipelines/helios/test_helios.py); the text side is
the tiny UMT5 one the Wan models use (HeliosPipeline names UMT5EncoderModel; the test's T5 comes from the Hub).
"""

from __future__ import annotations


def build_helios(dest: str) -> str:
    import torch
    from diffusers import AutoencoderKLWan, HeliosPipeline, HeliosScheduler, HeliosTransformer3DModel

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side(umt5=True)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    torch.manual_seed(0)
    transformer = HeliosTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_dim=(4, 4, 4), has_multi_term_memory_patch=True, guidance_cross_attn=True, zero_history_timestep=True,
        is_amplify_history=False,
    ).eval()
    HeliosPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                   scheduler=HeliosScheduler(stage_range=[0, 1], stages=1, use_dynamic_shifting=True),
                   ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"helios": "build_helios"}
