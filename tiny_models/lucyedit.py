"""A tiny Lucy Edit folder (as decart-ai/Lucy-Edit-Dev), built offline.

diffusers has no test of LucyEditPipeline, so the components are its Wan2.2 TI2V-5B parts from diffusers' Wan
tests, as the released 5B model is: the tiny UMT5 text side, the Wan2.2 VAE (48 latent channels, 16x in space,
latents mean/std not 0/1 so that a decode skipping them shows) and a WanTransformer3DModel that takes the
noise and the input video's latents side by side (96 input channels, 48 out). The scheduler is the pipeline's
own FlowMatch Euler.
"""

from __future__ import annotations


def build_lucyedit(dest: str) -> str:
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, LucyEditPipeline, WanTransformer3DModel

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side(umt5=True)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
        latents_mean=[0.05 * (i % 5 - 2) for i in range(48)], latents_std=[1.0 + 0.1 * (i % 3) for i in range(48)],
        dim_mult=[1, 1, 1, 1], num_res_blocks=1, scale_factor_spatial=16, scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    ).eval()
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=96, out_channels=48,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    ).eval()
    LucyEditPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                     scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
                     ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"lucyedit": "build_lucyedit"}
