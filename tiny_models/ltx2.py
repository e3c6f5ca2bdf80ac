"""Tiny LTX-2 folders (as Lightricks/LTX-2 converted by diffusers' scripts/convert_ltx2_to_diffusers.py), built
offline: an LTX2Pipeline folder and the same model saved as an LTX2ImageToVideoPipeline folder.

Configs follow diffusers' own tests (tests/pipelines/ltx2/test_ltx2.py) with three changes that make the tiny
model behave like the release where the nodes depend on it:
- the video VAE compresses 32x in space and 8x in time, as the released one (so the 8k+1 frame rule and the
  multiple of 32 are really exercised), with the release's block layout at 8 channels;
- the vocoder upsamples the mel spectrogram by the mel hop length times its output rate over the audio VAE's rate
  (the release: 160 x 24000 / 16000 = 240 = 6*5*2*2*2), so a second of latents is a second of sound and the mp4's
  audio lasts as long as its video;
- the Gemma 3 text encoder is built from a config (hf-internal-testing/tiny-gemma3 cannot be downloaded here)
  with a tiny SigLIP vision tower, as Gemma3ForConditionalGeneration has one; its tokenizer is a GemmaTokenizer
  trained here (tiny_models/sana_video.build_gemma_tokenizer).
"""

from __future__ import annotations

import os

# The released LTX-2 audio VAE: 16 kHz mel spectrograms with a hop of 160 samples; the vocoder outputs 24 kHz.
AUDIO_RATE, MEL_HOP, OUTPUT_RATE = 16000, 160, 24000


def tiny_gemma3(vocab_size: int):
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(0)
    config = Gemma3Config(
        text_config={"hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "head_dim": 16, "vocab_size": vocab_size,
                     "max_position_embeddings": 512, "sliding_window": 64, "rope_theta": 10000.0},
        vision_config={"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 28, "patch_size": 14},
        mm_tokens_per_image=4,
    )
    config.text_config._attn_implementation = "eager"
    return Gemma3ForConditionalGeneration(config).eval()


def tiny_video_vae():
    """The released LTX-2 video VAE's layout (4 down blocks: spatial, temporal, 2x spatiotemporal; patch 4;
    32x / 8x compression) at 8 channels."""
    import torch
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 16, 32), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1), spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True), decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=False,
        patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
        spatial_compression_ratio=32, temporal_compression_ratio=8,
    ).eval()
    # Random statistics, so a mix-up of normalised and raw latents shows in the frames.
    vae.latents_mean.copy_(torch.randn(4) * 0.1)
    vae.latents_std.copy_(1.0 + torch.rand(4) * 0.5)
    return vae


def tiny_audio_parts():
    """(audio VAE, vocoder): the test's audio VAE at the released rates, and a vocoder upsampling by 240."""
    import torch
    from diffusers import AutoencoderKLLTX2Audio
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=AUDIO_RATE, mel_hop_length=MEL_HOP, is_causal=True, mel_bins=8,
    ).eval()
    audio_vae.latents_mean.copy_(torch.randn(audio_vae.latents_mean.shape) * 0.1)
    audio_vae.latents_std.copy_(1.0 + torch.rand(audio_vae.latents_std.shape) * 0.5)
    torch.manual_seed(0)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=64, out_channels=2,
        upsample_kernel_sizes=[12, 10, 4, 4, 4], upsample_factors=[6, 5, 2, 2, 2], resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1, output_sampling_rate=OUTPUT_RATE,
    ).eval()
    return audio_vae, vocoder


def _components(tmp: str) -> dict:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from transformers import GemmaTokenizer

    from .sana_video import build_gemma_tokenizer

    tokenizer = GemmaTokenizer.from_pretrained(build_gemma_tokenizer(os.path.join(tmp, "tokenizer")))
    text_encoder = tiny_gemma3(len(tokenizer))
    text = text_encoder.config.text_config
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=text.hidden_size, rope_double_precision=False, rope_type="split",
    ).eval()
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=text.hidden_size, text_proj_in_factor=text.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split",
    ).eval()
    audio_vae, vocoder = tiny_audio_parts()
    # The released LTX-2 scheduler (FlowMatch Euler, dynamic shifting over 1024..4096 tokens, shift_terminal 0.1).
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=1024, base_shift=0.95, max_image_seq_len=4096, max_shift=2.05, shift_terminal=0.1,
        use_dynamic_shifting=True)
    return {"transformer": transformer, "vae": tiny_video_vae(), "audio_vae": audio_vae, "scheduler": scheduler,
            "text_encoder": text_encoder, "tokenizer": tokenizer, "connectors": connectors, "vocoder": vocoder}


def build_ltx2(dest: str) -> str:
    import tempfile

    from diffusers import LTX2Pipeline

    with tempfile.TemporaryDirectory() as tmp:
        LTX2Pipeline(**_components(tmp)).save_pretrained(dest, safe_serialization=True)
    return dest


def build_ltx2_i2v(dest: str) -> str:
    """The tiny text-to-video model saved as an LTX2ImageToVideoPipeline folder."""
    from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline

    from .cache import tiny_model_path

    t2v = LTX2Pipeline.from_pretrained(tiny_model_path("ltx2"))
    LTX2ImageToVideoPipeline(**t2v.components).save_pretrained(dest, safe_serialization=True)
    return dest


def tiny_latent_upsampler(in_channels: int = 4, seed: int = 0):
    """A tiny LTX2LatentUpsamplerModel after diffusers' test_ltx2_condition.py get_dummy_upsample_component (the
    release's rational x2 resampler; mid_channels 32 for its 32-group GroupNorms)."""
    import torch
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    torch.manual_seed(seed)
    return LTX2LatentUpsamplerModel(in_channels=in_channels, mid_channels=32, num_blocks_per_stage=1).eval()


def build_ltx2_upsampler(dest: str) -> str:
    """The tiny LTX-2 model's latent upscaler as a model folder (config.json + weights), as the latent_upsampler
    subfolder of Lightricks/LTX-2 is laid out."""
    tiny_latent_upsampler().save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"ltx2": "build_ltx2", "ltx2_i2v": "build_ltx2_i2v", "ltx2_upsampler": "build_ltx2_upsampler"}
