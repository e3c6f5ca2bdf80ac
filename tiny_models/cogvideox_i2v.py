"""A tiny CogVideoX image-to-video folder (as CogVideoX-5b-I2V is laid out), built offline.

It shares the tiny text-to-video model's tokenizer, text encoder, VAE and scheduler, so both tiny models
speak the same latent space, and adds a transformer that takes image latents beside the noise (twice the
input channels) with learned positional embeddings fixed to one resolution, as the real model has.
"""

from __future__ import annotations

# The resolution the tiny transformer's learned positions are made for (latent 8x6 -> 64x48 pixels).
SAMPLE_WIDTH_PX, SAMPLE_HEIGHT_PX = 64, 48


def build_cogvideox_i2v(dest: str) -> str:
    import torch
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline, CogVideoXTransformer3DModel

    from .cache import tiny_model_path

    base = CogVideoXPipeline.from_pretrained(tiny_model_path("cogvideox"))
    latent_channels = base.vae.config.latent_channels
    spatial = 2 ** (len(base.vae.config.block_out_channels) - 1)
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,  # rotary embeddings split the head dim in 4 and 3x(1/8): it must divide by 16
        in_channels=2 * latent_channels,
        out_channels=latent_channels,
        time_embed_dim=2,
        text_embed_dim=base.text_encoder.config.d_model,
        num_layers=1,
        sample_width=SAMPLE_WIDTH_PX // spatial,
        sample_height=SAMPLE_HEIGHT_PX // spatial,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    ).eval()
    pipe = CogVideoXImageToVideoPipeline(
        tokenizer=base.tokenizer,
        text_encoder=base.text_encoder,
        vae=base.vae,
        transformer=transformer,
        scheduler=base.scheduler,
    )
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"cogvideox_i2v": "build_cogvideox_i2v"}
