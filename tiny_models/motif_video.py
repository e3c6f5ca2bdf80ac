"""A tiny Motif-Video folder (as Motif-Technologies/Motif-Video-2B), built offline.

Configs follow diffusers' test (tests/pipelines/motif_video/test_motif_video.py): the Wan2.1 VAE, a T5Gemma2
encoder (its text side 32 wide; the vision tower it always carries made tiny too, as text encoding never runs
it), the MotifVideoTransformer3DModel (noise, condition latents and mask: 33 channels in), FlowMatch Euler with
shift 7 and an AdaptiveProjectedGuidance guider. The test borrows a T5 tokenizer from the Hub; T5Gemma2 reads
Gemma's vocabulary, so the tokenizer here is the tiny Gemma one trained for Sana-Video.
"""

from __future__ import annotations

import os


def build_motif_video(dest: str) -> str:
    import tempfile

    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, MotifVideoPipeline
    from diffusers.guiders import AdaptiveProjectedGuidance
    from diffusers.models.transformers.transformer_motif_video import MotifVideoTransformer3DModel
    from transformers import (
        GemmaTokenizer,
        SiglipVisionConfig,
        T5Gemma2Encoder,
        T5Gemma2EncoderConfig,
        T5Gemma2TextConfig,
    )

    from .sana_video import build_gemma_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = GemmaTokenizer.from_pretrained(build_gemma_tokenizer(os.path.join(tmp, "tokenizer")))
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    torch.manual_seed(0)
    text_config = T5Gemma2TextConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=len(tokenizer),
        max_position_embeddings=128, head_dim=16, num_key_value_heads=2, dropout_rate=0.0)
    vision_config = SiglipVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=16, patch_size=8)
    text_encoder = T5Gemma2Encoder(T5Gemma2EncoderConfig(
        text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4)).eval()
    torch.manual_seed(0)
    transformer = MotifVideoTransformer3DModel(
        in_channels=33, out_channels=16, num_attention_heads=2, attention_head_dim=12, num_layers=1,
        num_single_layers=1, mlp_ratio=4.0, patch_size=1, patch_size_t=1, qk_norm="rms_norm", text_embed_dim=32,
        rope_axes_dim=(4, 4, 4),
    ).eval()
    MotifVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), vae=vae, text_encoder=text_encoder,
        tokenizer=tokenizer, transformer=transformer, guider=AdaptiveProjectedGuidance(), feature_extractor=None,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"motif_video": "build_motif_video"}
