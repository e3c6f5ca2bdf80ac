"""Tiny LTX-Video folders built offline: 0.9.1-like (a timestep-conditioned VAE), 0.9.5+-like (an
LTXConditionPipeline folder with the 0.9.5 VAE blocks) and a spatial latent upscaler folder.

Configs follow diffusers' own test (tests/pipelines/ltx/test_ltx.py), with the VAE's timestep conditioning
on as in the released 0.9.1+ models; the scheduler is the released model's FlowMatch Euler with dynamic
shifting.
"""

from __future__ import annotations


def build_ltx(dest: str, timestep_conditioning: bool = True) -> str:
    """timestep_conditioning=False gives LTX-Video 0.9.0's VAE, which decodes without a timestep or noise."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side()
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=timestep_conditioning, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=1024, base_shift=0.95, max_image_seq_len=4096, max_shift=2.05, shift_terminal=0.1,
        use_dynamic_shifting=True)
    LTXPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                transformer=transformer).save_pretrained(dest, safe_serialization=True)
    return dest


def tiny_vae_095():
    """A tiny VAE shaped like LTX-Video 0.9.5/0.9.7's (diffusers' scripts/convert_ltx_to_diffusers.py): the 0.9.5
    down blocks with separate spatial and temporal downsampling, decoder channels halving at each 2x upsample,
    timestep conditioning, and the compression ratios written into its config (32 and 8, as released)."""
    import torch
    from diffusers import AutoencoderKLLTXVideo

    torch.manual_seed(0)
    return AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8, 8),
        down_block_types=("LTXVideo095DownBlock3D",) * 4, decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True, patch_size=4,
        patch_size_t=1, encoder_causal=True, decoder_causal=False, spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    ).eval()


def build_ltx_095(dest: str) -> str:
    """A tiny LTX-Video 0.9.5+ folder as the 0.9.7 conversion saves it: an LTXConditionPipeline folder whose
    scheduler is FlowMatch Euler without dynamic shifting. Transformer after diffusers' test_ltx_condition.py."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline, LTXVideoTransformer3DModel

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side()
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    ).eval()
    LTXConditionPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False), vae=tiny_vae_095(),
                         text_encoder=text_encoder, tokenizer=tokenizer,
                         transformer=transformer).save_pretrained(dest, safe_serialization=True)
    return dest


def tiny_latent_upsampler(in_channels: int = 8, seed: int = 0):
    """A tiny LTXLatentUpsamplerModel after diffusers' test_ltx_latent_upsample.py (mid_channels 32: its
    GroupNorms take 32 groups)."""
    import torch
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    torch.manual_seed(seed)
    return LTXLatentUpsamplerModel(in_channels=in_channels, mid_channels=32, num_blocks_per_stage=1, dims=3,
                                   spatial_upsample=True, temporal_upsample=False).eval()


def build_ltx_upsampler(dest: str) -> str:
    """A tiny spatial latent upscaler folder as Lightricks/ltxv-spatial-upscaler-0.9.7 ships it: an
    LTXLatentUpsamplePipeline folder (the VAE beside the latent_upsampler), for the tiny 0.9.5+ model."""
    from diffusers import LTXLatentUpsamplePipeline

    LTXLatentUpsamplePipeline(vae=tiny_vae_095(), latent_upsampler=tiny_latent_upsampler()).save_pretrained(
        dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"ltx": "build_ltx", "ltx_095": "build_ltx_095", "ltx_upsampler": "build_ltx_upsampler"}
