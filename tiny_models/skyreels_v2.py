"""Tiny SkyReels-V2 folders (as the Skywork/SkyReels-V2-*-Diffusers releases), built offline.

Configs follow diffusers' own tests (tests/pipelines/skyreels_v2/*.py): the Wan2.1 VAE, a SkyReelsV2Transformer3DModel
and the tiny UMT5 text side the Wan tiny model uses (the releases ship google/umt5-xxl). The scheduler is the one
diffusers' conversion script saves (UniPC on flow sigmas), with the flow_shift the guide sets: 8.0 for text-to-video
and diffusion forcing, 5.0 for image-to-video.

Three folders, told apart as the releases are, by model_index.json's pipeline class and the transformer config:
text-to-video (SkyReelsV2Pipeline), image-to-video (SkyReelsV2ImageToVideoPipeline: 36 input channels and a CLIP
image encoder, with added_kv_proj_dim as the released I2V transformers have it) and diffusion forcing
(SkyReelsV2DiffusionForcingPipeline, with inject_sample_info as the released DF-1.3B has it, so fps matters). The
diffusion-forcing image-to-video and video-extension pipelines run the diffusion-forcing folder's weights.
"""

from __future__ import annotations

T2V_FLOW_SHIFT = 8.0
I2V_FLOW_SHIFT = 5.0


def _vae():
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True]).eval()


def _transformer(seed: int = 0, **config):
    import torch
    from diffusers import SkyReelsV2Transformer3DModel

    torch.manual_seed(seed)
    return SkyReelsV2Transformer3DModel(**{
        "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 16,
        "out_channels": 16, "text_dim": 32, "freq_dim": 256, "ffn_dim": 32, "num_layers": 2, "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 32, **config}).eval()


def _scheduler(flow_shift: float):
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", num_train_timesteps=1000, use_flow_sigmas=True,
                                   flow_shift=flow_shift)


def build_skyreels_v2(dest: str) -> str:
    from diffusers import SkyReelsV2Pipeline

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side(umt5=True)
    SkyReelsV2Pipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=_vae(), transformer=_transformer(),
                       scheduler=_scheduler(T2V_FLOW_SHIFT)).save_pretrained(dest, safe_serialization=True)
    return dest


def build_skyreels_v2_i2v(dest: str) -> str:
    import torch
    from diffusers import SkyReelsV2ImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side(umt5=True)
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
        intermediate_size=16, patch_size=1)).eval()
    SkyReelsV2ImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=_vae(), scheduler=_scheduler(I2V_FLOW_SHIFT),
        image_encoder=image_encoder, image_processor=CLIPImageProcessor(crop_size=32, size=32),
        transformer=_transformer(in_channels=36, image_dim=4, added_kv_proj_dim=24),
    ).save_pretrained(dest, safe_serialization=True)
    return dest


def build_skyreels_v2_df(dest: str) -> str:
    from diffusers import SkyReelsV2DiffusionForcingPipeline

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side(umt5=True)
    SkyReelsV2DiffusionForcingPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=_vae(), scheduler=_scheduler(T2V_FLOW_SHIFT),
        transformer=_transformer(1, inject_sample_info=True),
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"skyreels_v2": "build_skyreels_v2", "skyreels_v2_i2v": "build_skyreels_v2_i2v",
               "skyreels_v2_df": "build_skyreels_v2_df"}
