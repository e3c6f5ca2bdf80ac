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



def _tiny_wan_transformer(seed: int, in_channels: int = 16, out_channels: int = 16):
    """The transformer of diffusers' Wan2.2 tests; each expert its own seed, so that a pipeline running one
    expert where it should run the other gives other frames."""
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=in_channels,
        out_channels=out_channels, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    ).eval()


def build_wan22_a14b(dest: str) -> str:
    """A tiny Wan2.2-T2V-A14B folder: the tiny Wan2.1 text side, VAE and scheduler, two experts
    (`transformer` above the boundary, `transformer_2` below) and `boundary_ratio` 0.875 in model_index.json,
    as the released folder and diffusers' tests/pipelines/wan/test_wan_22.py have it."""
    from diffusers import WanPipeline

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    WanPipeline(tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
                transformer=_tiny_wan_transformer(0), transformer_2=_tiny_wan_transformer(1),
                boundary_ratio=0.875).save_pretrained(dest, safe_serialization=True)
    return dest


def build_wan22_i2v_a14b(dest: str) -> str:
    """A tiny Wan2.2-I2V-A14B folder: two image-to-video experts (36 input channels, no CLIP image input),
    no image encoder, `boundary_ratio` 0.9 (test_wan_22_image_to_video.py's components)."""
    from diffusers import WanImageToVideoPipeline, WanPipeline

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    WanImageToVideoPipeline(
        tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
        image_processor=None, image_encoder=None, transformer=_tiny_wan_transformer(0, 36),
        transformer_2=_tiny_wan_transformer(1, 36), boundary_ratio=0.9,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


def build_wan22_ti2v_5b(dest: str) -> str:
    """A tiny Wan2.2-TI2V-5B folder (a WanPipeline folder, as released): one 48-channel transformer, the Wan2.2
    VAE (48 latent channels, patchified, 16x in space) and `expand_timesteps: true` (diffusers' Wan225B test
    components; the latents mean/std are not 0/1 here so that a decode skipping them shows)."""
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
        latents_mean=[0.05 * (i % 5 - 2) for i in range(48)], latents_std=[1.0 + 0.1 * (i % 3) for i in range(48)],
        dim_mult=[1, 1, 1, 1], num_res_blocks=1, scale_factor_spatial=16, scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    ).eval()
    WanPipeline(tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=vae, scheduler=t2v.scheduler,
                transformer=_tiny_wan_transformer(0, 48, 48), transformer_2=None, boundary_ratio=None,
                expand_timesteps=True).save_pretrained(dest, safe_serialization=True)
    return dest


def _tiny_vace_transformer(seed: int):
    """The VACE transformer of diffusers' tests/pipelines/wan/test_wan_vace.py: three blocks, VACE blocks beside
    0 and 2, and 96 control channels (16 inactive + 16 reactive latent channels + the 8x8 mask as 64)."""
    import torch
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(seed)
    return WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96,
    ).eval()


def build_wan_vace(dest: str) -> str:
    """A tiny Wan2.1 VACE folder (as Wan-AI/Wan2.1-VACE-1.3B-diffusers, a WanVACEPipeline folder): the tiny
    Wan2.1 text side, VAE and scheduler around diffusers' test VACE transformer."""
    from diffusers import WanPipeline, WanVACEPipeline

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    WanVACEPipeline(tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
                    transformer=_tiny_vace_transformer(0), transformer_2=None,
                    boundary_ratio=None).save_pretrained(dest, safe_serialization=True)
    return dest


def build_wan22_vace_a14b(dest: str) -> str:
    """A tiny Wan2.2 VACE A14B folder (as alibaba-pai's Wan2.2-VACE-Fun-A14B): two VACE experts, each its own
    seed, and boundary_ratio 0.875, which WanVACEPipeline takes as WanPipeline does."""
    from diffusers import WanPipeline, WanVACEPipeline

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    WanVACEPipeline(tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
                    transformer=_tiny_vace_transformer(0), transformer_2=_tiny_vace_transformer(1),
                    boundary_ratio=0.875).save_pretrained(dest, safe_serialization=True)
    return dest


def build_wan_flf2v(dest: str) -> str:
    """A tiny Wan2.1 first-last-frame folder (as Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers, a
    WanImageToVideoPipeline folder): the I2V transformer with learned positions for the CLIP tokens of two
    images (pos_embed_seq_len = 2 x (4x4 patches + class token)), as diffusers' WanFLFToVideo test has it, plus
    added_kv_proj_dim as the released model (so the image tokens take their own cross-attention)."""
    import torch
    from diffusers import WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    from .cache import tiny_model_path

    t2v = WanPipeline.from_pretrained(tiny_model_path("wan"))
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=4, added_kv_proj_dim=24, pos_embed_seq_len=2 * (4 * 4 + 1),
    ).eval()
    # pos_embed starts at zero in a fresh model: random values make a model that ignored it show.
    with torch.no_grad():
        transformer.condition_embedder.image_embedder.pos_embed.normal_(0, 0.5)
    torch.manual_seed(0)
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, num_hidden_layers=2, num_attention_heads=2, image_size=4, intermediate_size=16,
        patch_size=1)).eval()
    WanImageToVideoPipeline(
        tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae, scheduler=t2v.scheduler,
        image_processor=CLIPImageProcessor(crop_size=4, size=4), image_encoder=image_encoder,
        transformer=transformer,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"wan": "build_wan", "wan_i2v": "build_wan_i2v", "wan22_a14b": "build_wan22_a14b",
               "wan22_i2v_a14b": "build_wan22_i2v_a14b", "wan22_ti2v_5b": "build_wan22_ti2v_5b",
               "wan_vace": "build_wan_vace", "wan22_vace_a14b": "build_wan22_vace_a14b",
               "wan_flf2v": "build_wan_flf2v"}
