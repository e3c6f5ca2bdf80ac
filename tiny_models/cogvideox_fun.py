"""A tiny CogVideoX-Fun control folder (as alibaba-pai's CogVideoX-Fun-V1.1 Pose/Canny/Depth diffusers folders
are laid out: a CogVideoXFunControlPipeline), built offline.

It shares the tiny text-to-video model's tokenizer, text encoder, VAE and scheduler, and adds a transformer that
takes the control video's latents beside the noise (twice the input channels), with rotary positions as the
Fun 5b models have, so any 16-multiple size runs.
"""

from __future__ import annotations


def build_cogvideox_fun_control(dest: str) -> str:
    import torch
    from diffusers import CogVideoXFunControlPipeline, CogVideoXPipeline, CogVideoXTransformer3DModel

    from .cache import tiny_model_path

    base = CogVideoXPipeline.from_pretrained(tiny_model_path("cogvideox"))
    latent_channels = base.vae.config.latent_channels
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,  # rotary embeddings split the head dim in 4 and 3x(1/8): it must divide by 16
        in_channels=2 * latent_channels,  # noise + control video latents
        out_channels=latent_channels,
        time_embed_dim=2,
        text_embed_dim=base.text_encoder.config.d_model,
        num_layers=1,
        sample_width=8,
        sample_height=6,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
        use_rotary_positional_embeddings=True,
    ).eval()
    pipe = CogVideoXFunControlPipeline(
        tokenizer=base.tokenizer,
        text_encoder=base.text_encoder,
        vae=base.vae,
        transformer=transformer,
        scheduler=base.scheduler,
    )
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"cogvideox_fun_control": "build_cogvideox_fun_control"}
