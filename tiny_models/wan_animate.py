"""A tiny Wan2.2-Animate folder (as Wan-AI/Wan2.2-Animate-14B-Diffusers, a WanAnimatePipeline folder), built offline.

Configs follow diffusers' own test (tests/pipelines/wan/test_wan_animate.py): the transformer with its motion
encoder (face frames of motion_encoder_size 16) and face adapter, a CLIP vision encoder and its processor, and
the tiny Wan2.1 text side, VAE and scheduler. Unlike that test, the encoder is a CLIPVisionModel (the class the
pipeline and the released folder name) and the transformer has added_kv_proj_dim (= its inner dim, as the
released model), so the CLIP tokens take their own cross-attention.
"""

from __future__ import annotations


def build_wan_animate(dest: str) -> str:
    import torch
    from diffusers import WanAnimatePipeline, WanAnimateTransformer3DModel, WanPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    torch.manual_seed(0)
    transformer = WanAnimateTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, latent_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", image_dim=4, added_kv_proj_dim=24, rope_max_seq_len=32,
        motion_encoder_channel_sizes={"4": 16, "8": 16, "16": 16}, motion_encoder_size=16, motion_style_dim=8,
        motion_dim=4, motion_encoder_dim=16, face_encoder_hidden_dim=16, face_encoder_num_heads=2,
        inject_face_latents_blocks=2,
    ).eval()
    torch.manual_seed(0)
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, num_hidden_layers=2, num_attention_heads=2, image_size=4, intermediate_size=16,
        patch_size=1)).eval()
    WanAnimatePipeline(
        tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
        image_processor=CLIPImageProcessor(crop_size=4, size=4), image_encoder=image_encoder,
        transformer=transformer,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"wan_animate": "build_wan_animate"}
