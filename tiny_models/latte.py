"""A tiny Latte folder (as maxin-cn/Latte-1), built offline.

The transformer follows diffusers' own test (tests/pipelines/latte/test_latte.py): one spatial and one temporal
block, 2x2 patches, a learned-sigma output (8 channels for 4 latent ones) and the default video_length of 16
frames, which its temporal position embedding is fixed to. The T5 side is the shared tiny one (32 wide, the
transformer's caption_channels). The VAE has four blocks, so the latent is 8x smaller than the frames as in the
release (the test's one-block AutoencoderKL() would make it full size). The scheduler is DDIMScheduler() as in
the test, whose betas (0.0001 to 0.02, linear) are the ones Latte's own t2v sampling config gives.
"""

from __future__ import annotations


def build_latte(dest: str) -> str:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, LattePipeline, LatteTransformer3DModel

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side()
    torch.manual_seed(0)
    transformer = LatteTransformer3DModel(
        sample_size=8, num_layers=1, patch_size=2, attention_head_dim=8, num_attention_heads=3, caption_channels=32,
        in_channels=4, cross_attention_dim=24, out_channels=8, attention_bias=True, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, sample_size=128, norm_num_groups=2,
    ).eval()
    LattePipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                  scheduler=DDIMScheduler()).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"latte": "build_latte"}
