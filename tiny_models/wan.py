"""A tiny Wan2.1 text-to-video folder (as Wan-AI/Wan2.1-T2V-1.3B-Diffusers), built offline.

Configs follow diffusers' own test (tests/pipelines/wan/test_wan.py); the scheduler is the real model's
UniPC on flow sigmas.
"""

from __future__ import annotations


def build_wan(dest: str) -> str:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side(umt5=True)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    ).eval()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=3.0)
    WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                scheduler=scheduler).save_pretrained(dest, safe_serialization=True)
    return dest


def build_wan_i2v(dest: str) -> str:
    """A tiny Wan2.1 image-to-video folder (as Wan-AI/Wan2.1-I2V-14B-480P-Diffusers): the text side and VAE
    of the tiny text-to-video model, a transformer that also takes the image latents and mask (36 input
    channels) and CLIP image embeddings, and a CLIP vision encoder (configs as diffusers' own test).

    Unlike that test, the transformer has added_kv_proj_dim (= its inner dim, as the released model) so the
    CLIP tokens go through the separate image cross-attention, and the encoder is a CLIPVisionModel, the
    class the released folder names."""
    import torch
    from diffusers import WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=4, added_kv_proj_dim=24,
    ).eval()
    torch.manual_seed(0)
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
        intermediate_size=16, patch_size=1)).eval()
    image_processor = CLIPImageProcessor(crop_size=32, size=32)
    WanImageToVideoPipeline(
        tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
        image_processor=image_processor, image_encoder=image_encoder, transformer=transformer,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"wan": "build_wan", "wan_i2v": "build_wan_i2v"}
