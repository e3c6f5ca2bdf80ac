"""The released configs of every video model family the pack supports, to reason about memory at real sizes
without downloading anything.

Each `Release` lists its pipeline components with the class diffusers or transformers builds, the config typed
from the published config.json (the keys that differ from the class defaults, plus the ones that name the
architecture), and `source`: where the numbers come from. `build_on_meta` instantiates a component on the meta
device (shapes, no storage), so `parameter_count` gives the real size in a fraction of a second.

`published_params` is the parameter count the model's authors give (model card, paper or technical report),
with `params_source` saying where and how it is rounded; None where no such figure is published.

AnimateDiff is kept as the two released parts the pipeline takes, `unet` (Stable Diffusion 1.5's
UNet2DConditionModel) and `motion_adapter` (MotionAdapter v1-5-2); AnimateDiffPipeline merges them into a
UNetMotionModel whose parameters are the sum of the two, so both are denoisers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["RELEASES", "Component", "Release", "build_on_meta", "by_name", "parameter_count"]


@dataclass(frozen=True)
class Component:
    """One pipeline component of a release: what class builds it, from which config, and how big it is said
    to be."""

    role: str  # the pipeline argument: "transformer", "transformer_2", "unet", "vae", "text_encoder", ...
    library: str  # "diffusers" | "transformers"
    class_name: str
    config: Mapping[str, Any] = field(hash=False)  # a dict: left out of the hash so releases stay hashable
    source: str
    published_params: int | None = None  # the authors' figure, where one is published
    params_source: str = ""


@dataclass(frozen=True)
class Release:
    """A released model: its components, the guide's / model card's default size and which roles denoise."""

    name: str
    family: str  # the pack's family id (families/<id>.py FAMILY.id)
    components: tuple[Component, ...]
    default_width: int
    default_height: int
    default_frames: int
    denoisers: tuple[str, ...]

    def component(self, role: str) -> Component:
        for comp in self.components:
            if comp.role == role:
                return comp
        raise KeyError(f"{self.name} has no component {role!r}")


# ---------------------------------------------------------------------------------------------------------
# Text and image encoders shared across families
# ---------------------------------------------------------------------------------------------------------

# google/t5-v1_1-xxl config.json (the encoder half is what the pipelines load as T5EncoderModel).
T5_XXL = {
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "vocab_size": 32128,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "layer_norm_epsilon": 1e-06,
    "tie_word_embeddings": False,
}

# google/umt5-xxl config.json (Wan's text encoder; diffusers' convert_wan_to_diffusers.py loads it as is).
UMT5_XXL = {
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "vocab_size": 256384,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "layer_norm_epsilon": 1e-06,
    "tie_word_embeddings": False,
}

# openai/clip-vit-large-patch14 config.json, text_config (Stable Diffusion 1.x's and HunyuanVideo's CLIP-L).
CLIP_L_TEXT = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
    "vocab_size": 49408,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
}

CLIP_L_TEXT_PARAMS = (123_000_000, "CompVis/stable-diffusion README: 'With its 860M UNet and 123M text encoder' "
                                   "(CLIP ViT-L/14's text tower; rounded)")

# laion/CLIP-ViT-H-14-laion2B-s32B-b79K config.json, text_config (OpenCLIP ViT-H/14 as a CLIPTextModel).
CLIP_H_TEXT = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "projection_dim": 1024,
    "vocab_size": 49408,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
}

# laion/CLIP-ViT-H-14-laion2B-s32B-b79K config.json, vision_config (ViT-H/14, 224 px).
CLIP_H_VISION = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 16,
    "num_hidden_layers": 32,
    "patch_size": 14,
    "image_size": 224,
    "projection_dim": 1024,
    "hidden_act": "gelu",
}

# Stable Diffusion 1.5's VAE (stable-diffusion-v1-5/stable-diffusion-v1-5 vae/config.json); SD 2.x's is the
# same network (ModelScope and I2VGen-XL ship it).
SD_VAE = {
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

T5_SOURCE = "google/t5-v1_1-xxl config.json (encoder only, as T5EncoderModel)"


def _t5(repo: str) -> Component:
    return Component("text_encoder", "transformers", "T5EncoderModel", T5_XXL,
                     f"{repo} text_encoder/config.json = {T5_SOURCE}")


# ---------------------------------------------------------------------------------------------------------
# CogVideoX
# ---------------------------------------------------------------------------------------------------------

_COGVIDEOX_TRANSFORMER = {
    "num_attention_heads": 30,
    "attention_head_dim": 64,
    "num_layers": 30,
    "in_channels": 16,
    "out_channels": 16,
    "time_embed_dim": 512,
    "text_embed_dim": 4096,
    "patch_size": 2,
    "sample_width": 90,
    "sample_height": 60,
    "sample_frames": 49,
    "max_text_seq_length": 226,
    "use_rotary_positional_embeddings": False,
}
_COGVIDEOX_SOURCE_NOTE = ("(mirrored in kijai/ComfyUI-CogVideoXWrapper configs/; diffusers "
                          "scripts/convert_cogvideox_to_diffusers.py builds the same)")
_COGVIDEOX_PARAMS = ("the model's name, CogVideoX-{size} (THUDM/CogVideo README model table); no finer count is "
                     "published. A coarse rounding: the released transformer holds {held}")


def _cogvideox_vae(repo: str, scaling_factor: float) -> Component:
    return Component(
        "vae", "diffusers", "AutoencoderKLCogVideoX",
        {"block_out_channels": [128, 256, 256, 512], "latent_channels": 16, "layers_per_block": 3,
         "temporal_compression_ratio": 4, "scaling_factor": scaling_factor},
        f"{repo} vae/config.json {_COGVIDEOX_SOURCE_NOTE}")


COGVIDEOX_2B = Release(
    name="CogVideoX-2b",
    family="cogvideox",
    components=(
        Component("transformer", "diffusers", "CogVideoXTransformer3DModel", _COGVIDEOX_TRANSFORMER,
                  f"THUDM/CogVideoX-2b transformer/config.json {_COGVIDEOX_SOURCE_NOTE}",
                  2_000_000_000, _COGVIDEOX_PARAMS.format(size="2B", held="1.69B")),
        _cogvideox_vae("THUDM/CogVideoX-2b", 1.15258426),
        _t5("THUDM/CogVideoX-2b"),
    ),
    default_width=720, default_height=480, default_frames=49,
    denoisers=("transformer",),
)

COGVIDEOX_5B = Release(
    name="CogVideoX-5b",
    family="cogvideox",
    components=(
        Component("transformer", "diffusers", "CogVideoXTransformer3DModel",
                  {**_COGVIDEOX_TRANSFORMER, "num_attention_heads": 48, "num_layers": 42,
                   "use_rotary_positional_embeddings": True},
                  f"THUDM/CogVideoX-5b transformer/config.json {_COGVIDEOX_SOURCE_NOTE}",
                  5_000_000_000, _COGVIDEOX_PARAMS.format(size="5B", held="5.57B")),
        _cogvideox_vae("THUDM/CogVideoX-5b", 0.7),
        _t5("THUDM/CogVideoX-5b"),
    ),
    default_width=720, default_height=480, default_frames=49,
    denoisers=("transformer",),
)

COGVIDEOX_5B_I2V = Release(
    name="CogVideoX-5b-I2V",
    family="cogvideox",
    components=(
        Component("transformer", "diffusers", "CogVideoXTransformer3DModel",
                  {**_COGVIDEOX_TRANSFORMER, "num_attention_heads": 48, "num_layers": 42, "in_channels": 32,
                   "use_rotary_positional_embeddings": True, "use_learned_positional_embeddings": True},
                  f"THUDM/CogVideoX-5b-I2V transformer/config.json {_COGVIDEOX_SOURCE_NOTE}",
                  5_000_000_000, _COGVIDEOX_PARAMS.format(size="5B", held="5.57B")),
        _cogvideox_vae("THUDM/CogVideoX-5b-I2V", 0.7),
        _t5("THUDM/CogVideoX-5b-I2V"),
    ),
    default_width=720, default_height=480, default_frames=49,
    denoisers=("transformer",),
)

# ---------------------------------------------------------------------------------------------------------
# HunyuanVideo
# ---------------------------------------------------------------------------------------------------------

HUNYUANVIDEO = Release(
    name="HunyuanVideo",
    family="hunyuanvideo",
    components=(
        Component("transformer", "diffusers", "HunyuanVideoTransformer3DModel",
                  {"in_channels": 16, "out_channels": 16, "num_attention_heads": 24, "attention_head_dim": 128,
                   "num_layers": 20, "num_single_layers": 40, "num_refiner_layers": 2, "mlp_ratio": 4.0,
                   "patch_size": 2, "patch_size_t": 1, "qk_norm": "rms_norm", "guidance_embeds": True,
                   "text_embed_dim": 4096, "pooled_projection_dim": 768, "rope_theta": 256.0,
                   "rope_axes_dim": [16, 56, 56]},
                  "hunyuanvideo-community/HunyuanVideo transformer/config.json = diffusers "
                  "scripts/convert_hunyuan_video_to_diffusers.py TRANSFORMER_CONFIGS['HYVideo-T/2-cfgdistill']",
                  13_000_000_000, "Tencent/HunyuanVideo README and paper (arXiv 2412.03603): 'a video generative "
                  "model with over 13 billion parameters' (rounded; the released transformer holds 12.82B)"),
        Component("vae", "diffusers", "AutoencoderKLHunyuanVideo",
                  {"latent_channels": 16, "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2,
                   "scaling_factor": 0.476986, "spatial_compression_ratio": 8, "temporal_compression_ratio": 4},
                  "hunyuanvideo-community/HunyuanVideo vae/config.json (diffusers' AutoencoderKLHunyuanVideo "
                  "defaults are that config)"),
        Component("text_encoder", "transformers", "LlamaModel",
                  {"hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
                   "num_hidden_layers": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128320,
                   "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
                   "tie_word_embeddings": False},
                  "hunyuanvideo-community/HunyuanVideo text_encoder/config.json: the text part of "
                  "xtuner/llava-llama-3-8b-v1_1-transformers (Llama-3-8B with 128320 tokens)"),
        Component("text_encoder_2", "transformers", "CLIPTextModel", CLIP_L_TEXT,
                  "hunyuanvideo-community/HunyuanVideo text_encoder_2/config.json = "
                  "openai/clip-vit-large-patch14 config.json text_config", *CLIP_L_TEXT_PARAMS),
    ),
    default_width=1280, default_height=720, default_frames=129,
    denoisers=("transformer",),
)

# ---------------------------------------------------------------------------------------------------------
# LTX-Video
# ---------------------------------------------------------------------------------------------------------

LTX_VIDEO = Release(
    name="LTX-Video-0.9.1",
    family="ltx",
    components=(
        Component("transformer", "diffusers", "LTXVideoTransformer3DModel",
                  {"in_channels": 128, "out_channels": 128, "patch_size": 1, "patch_size_t": 1,
                   "num_attention_heads": 32, "attention_head_dim": 64, "cross_attention_dim": 2048,
                   "num_layers": 28, "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads",
                   "norm_elementwise_affine": False, "norm_eps": 1e-06, "caption_channels": 4096,
                   "attention_bias": True, "attention_out_bias": True},
                  "Lightricks/LTX-Video transformer/config.json (0.9.0-0.9.1 share it) = diffusers "
                  "scripts/convert_ltx_to_diffusers.py get_transformer_config('0.9.1')",
                  1_900_000_000, "LTX-Video technical report (arXiv 2501.00103): 1.9B; the model card and "
                  "checkpoint names round it to 2B (ltx-video-2b-v0.9.1)"),
        Component("vae", "diffusers", "AutoencoderKLLTXVideo",
                  {"latent_channels": 128, "block_out_channels": [128, 256, 512, 512],
                   "decoder_block_out_channels": [256, 512, 1024], "layers_per_block": [4, 3, 3, 3, 4],
                   "decoder_layers_per_block": [5, 6, 7, 8], "spatio_temporal_scaling": [True, True, True, False],
                   "decoder_spatio_temporal_scaling": [True, True, True],
                   "decoder_inject_noise": [True, True, True, False], "upsample_residual": [True, True, True],
                   "upsample_factor": [2, 2, 2], "timestep_conditioning": True, "patch_size": 4,
                   "patch_size_t": 1, "encoder_causal": True, "decoder_causal": False},
                  "a-r-r-o-w/LTX-Video-0.9.1-diffusers vae/config.json = diffusers "
                  "scripts/convert_ltx_to_diffusers.py get_vae_config('0.9.1')"),
        _t5("Lightricks/LTX-Video"),
    ),
    default_width=704, default_height=480, default_frames=161,
    denoisers=("transformer",),
)

# ---------------------------------------------------------------------------------------------------------
# Mochi-1
# ---------------------------------------------------------------------------------------------------------

MOCHI_1 = Release(
    name="Mochi-1-preview",
    family="mochi",
    components=(
        Component("transformer", "diffusers", "MochiTransformer3DModel",
                  {"patch_size": 2, "num_attention_heads": 24, "attention_head_dim": 128, "num_layers": 48,
                   "pooled_projection_dim": 1536, "in_channels": 12, "out_channels": None, "qk_norm": "rms_norm",
                   "text_embed_dim": 4096, "time_embed_dim": 256, "activation_fn": "swiglu",
                   "max_sequence_length": 256},
                  "genmo/mochi-1-preview transformer/config.json (diffusers' MochiTransformer3DModel defaults "
                  "are that config; scripts/convert_mochi_to_diffusers.py builds it with them)",
                  10_000_000_000, "genmo/mochi-1-preview model card: 'a 10 billion parameter diffusion model' "
                  "(rounded; the released transformer holds 10.03B)"),
        Component("vae", "diffusers", "AutoencoderKLMochi",
                  {"in_channels": 15, "out_channels": 3, "encoder_block_out_channels": [64, 128, 256, 384],
                   "decoder_block_out_channels": [128, 256, 512, 768], "latent_channels": 12,
                   "layers_per_block": [3, 3, 4, 6, 3], "temporal_expansions": [1, 2, 3],
                   "spatial_expansions": [2, 2, 2], "add_attention_block": [False, True, True, True, True]},
                  "genmo/mochi-1-preview vae/config.json (= diffusers' AutoencoderKLMochi defaults)",
                  None, "genmo/mochi-1-preview model card's AsymmVAE table gives 362M, which is the decoder alone "
                  "(362.5M here; the encoder, released later, adds 97M), so no figure for the whole VAE"),
        _t5("genmo/mochi-1-preview"),
    ),
    default_width=848, default_height=480, default_frames=85,  # the card's 84 is not 6k+1; 85 is
    denoisers=("transformer",),
)

# ---------------------------------------------------------------------------------------------------------
# Stable Video Diffusion
# ---------------------------------------------------------------------------------------------------------

SVD_XT = Release(
    name="SVD-XT",
    family="svd",
    components=(
        Component("unet", "diffusers", "UNetSpatioTemporalConditionModel",
                  {"sample_size": 96, "in_channels": 8, "out_channels": 4,
                   "block_out_channels": [320, 640, 1280, 1280], "addition_time_embed_dim": 256,
                   "projection_class_embeddings_input_dim": 768, "layers_per_block": 2,
                   "cross_attention_dim": 1024, "num_attention_heads": [5, 10, 20, 20], "num_frames": 25},
                  "stabilityai/stable-video-diffusion-img2vid-xt unet/config.json",
                  1_500_000_000, "Stable Video Diffusion paper (arXiv 2311.15127): a 1.5B-parameter video UNet "
                  "(rounded; Stable Diffusion 2.1's UNet plus the temporal layers, 1.52B here)"),
        Component("vae", "diffusers", "AutoencoderKLTemporalDecoder",
                  {"block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
                   "layers_per_block": 2, "latent_channels": 4, "sample_size": 768, "scaling_factor": 0.18215},
                  "stabilityai/stable-video-diffusion-img2vid-xt vae/config.json"),
        Component("image_encoder", "transformers", "CLIPVisionModelWithProjection", CLIP_H_VISION,
                  "stabilityai/stable-video-diffusion-img2vid-xt image_encoder/config.json (OpenCLIP ViT-H/14, "
                  "= laion/CLIP-ViT-H-14-laion2B-s32B-b79K vision_config)"),
    ),
    default_width=1024, default_height=576, default_frames=25,
    denoisers=("unet",),
)

# ---------------------------------------------------------------------------------------------------------
# AnimateDiff (Stable Diffusion 1.5 + motion adapter v1-5-2)
# ---------------------------------------------------------------------------------------------------------

ANIMATEDIFF = Release(
    name="AnimateDiff-v1-5-2",
    family="animatediff",
    components=(
        Component("unet", "diffusers", "UNet2DConditionModel",
                  {"sample_size": 64, "in_channels": 4, "out_channels": 4,
                   "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
                   "cross_attention_dim": 768, "attention_head_dim": 8},
                  "stable-diffusion-v1-5/stable-diffusion-v1-5 (formerly runwayml/) unet/config.json",
                  860_000_000, "CompVis/stable-diffusion README: 'With its 860M UNet and 123M text encoder' "
                  "(Stable Diffusion v1.x all share this UNet; rounded)"),
        Component("motion_adapter", "diffusers", "MotionAdapter",
                  {"block_out_channels": [320, 640, 1280, 1280], "motion_layers_per_block": 2,
                   "motion_mid_block_layers_per_block": 1, "motion_num_attention_heads": 8,
                   "motion_norm_num_groups": 32, "motion_max_seq_length": 32, "use_motion_mid_block": True,
                   "conv_in_channels": None},
                  "guoyww/animatediff-motion-adapter-v1-5-2 config.json (diffusers' AnimateDiff guide's adapter)",
                  None, "no count published (guoyww/AnimateDiff README, paper arXiv 2307.04725); "
                  "UNetMotionModel.from_unet2d(unet, motion_adapter) holds exactly unet + motion_adapter"),
        Component("vae", "diffusers", "AutoencoderKL", SD_VAE,
                  "stable-diffusion-v1-5/stable-diffusion-v1-5 vae/config.json"),
        Component("text_encoder", "transformers", "CLIPTextModel", CLIP_L_TEXT,
                  "stable-diffusion-v1-5/stable-diffusion-v1-5 text_encoder/config.json = "
                  "openai/clip-vit-large-patch14 text_config", *CLIP_L_TEXT_PARAMS),
    ),
    default_width=512, default_height=512, default_frames=16,
    denoisers=("unet", "motion_adapter"),
)

# ---------------------------------------------------------------------------------------------------------
# Wan
# ---------------------------------------------------------------------------------------------------------

_WAN_14B = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 40,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 13824,
    "num_layers": 40,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-06,
    "added_kv_proj_dim": None,
}
_WAN_1_3B = {**_WAN_14B, "num_attention_heads": 12, "ffn_dim": 8960, "num_layers": 30}
_WAN_5B = {**_WAN_14B, "num_attention_heads": 24, "ffn_dim": 14336, "num_layers": 30, "in_channels": 48,
           "out_channels": 48}
_WAN_I2V_14B = {**_WAN_14B, "in_channels": 36, "image_dim": 1280, "added_kv_proj_dim": 5120}
_WAN_CONVERT = "diffusers scripts/convert_wan_to_diffusers.py"

# The Wan2.1 VAE: diffusers' AutoencoderKLWan defaults are Wan2.1_VAE.pth's architecture.
_WAN21_VAE_CONFIG = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
                     "temperal_downsample": [False, True, True]}
# The Wan2.2 VAE (TI2V-5B): 48 latent channels, 16x in space, residual blocks over 2x2 patches.
_WAN22_VAE_CONFIG = {
    "base_dim": 160,
    "decoder_base_dim": 256,
    "z_dim": 48,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_temporal": 4,
    "scale_factor_spatial": 16,
    "latents_mean": [
        -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891,
        0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
        -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230, -0.0313, -0.1649, 0.0117, 0.0723,
        -0.2839, -0.2083, -0.0520, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
    ],
    "latents_std": [
        0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
        0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
        0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
        0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
    ],
}


def _wan_transformer(role: str, config: Mapping[str, Any], repo: str, script_key: str, published: int,
                     params_source: str) -> Component:
    return Component(role, "diffusers", "WanTransformer3DModel", config,
                     f"{repo} {role}/config.json = {_WAN_CONVERT} get_transformer_config({script_key!r})",
                     published, params_source)


def _wan21_vae(repo: str) -> Component:
    return Component("vae", "diffusers", "AutoencoderKLWan", _WAN21_VAE_CONFIG,
                     f"{repo} vae/config.json (Wan2.1_VAE.pth; {_WAN_CONVERT} convert_vae builds "
                     "AutoencoderKLWan() with its defaults)",
                     127_000_000, "Wan technical report (arXiv 2503.20314), Wan-VAE: 127M parameters (rounded)")


def _umt5(repo: str) -> Component:
    return Component("text_encoder", "transformers", "UMT5EncoderModel", UMT5_XXL,
                     f"{repo} text_encoder/config.json = google/umt5-xxl config.json (encoder only; "
                     f"{_WAN_CONVERT} loads UMT5EncoderModel from google/umt5-xxl)")


WAN21_T2V_1_3B = Release(
    name="Wan2.1-T2V-1.3B",
    family="wan",
    components=(
        _wan_transformer("transformer", _WAN_1_3B, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Wan-T2V-1.3B",
                         1_300_000_000, "the model's name, T2V-1.3B (Wan-AI/Wan2.1-T2V-1.3B model card, Wan "
                         "technical report arXiv 2503.20314); no finer count is published. A coarse rounding: the "
                         "released transformer holds 1.42B"),
        _wan21_vae("Wan-AI/Wan2.1-T2V-1.3B-Diffusers"),
        _umt5("Wan-AI/Wan2.1-T2V-1.3B-Diffusers"),
    ),
    default_width=832, default_height=480, default_frames=81,
    denoisers=("transformer",),
)

WAN21_T2V_14B = Release(
    name="Wan2.1-T2V-14B",
    family="wan",
    components=(
        _wan_transformer("transformer", _WAN_14B, "Wan-AI/Wan2.1-T2V-14B-Diffusers", "Wan-T2V-14B",
                         14_000_000_000, "the model's name, T2V-14B (Wan-AI/Wan2.1-T2V-14B model card, Wan "
                         "technical report arXiv 2503.20314); rounded: the released transformer holds 14.29B"),
        _wan21_vae("Wan-AI/Wan2.1-T2V-14B-Diffusers"),
        _umt5("Wan-AI/Wan2.1-T2V-14B-Diffusers"),
    ),
    default_width=1280, default_height=720, default_frames=81,
    denoisers=("transformer",),
)

WAN21_I2V_14B_480P = Release(
    name="Wan2.1-I2V-14B-480P",
    family="wan",
    components=(
        _wan_transformer("transformer", _WAN_I2V_14B, "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan-I2V-14B-480p",
                         14_000_000_000, "the model's name, I2V-14B (Wan-AI/Wan2.1-I2V-14B-480P model card): the "
                         "14B T2V backbone's size. The released transformer holds 16.39B: the image cross-attention "
                         "(add_k_proj/add_v_proj in each of the 40 blocks) and the CLIP image embedder add 2.1B"),
        _wan21_vae("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"),
        _umt5("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"),
        Component("image_encoder", "transformers", "CLIPVisionModel", CLIP_H_VISION,
                  "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers image_encoder/config.json = "
                  "laion/CLIP-ViT-H-14-laion2B-s32B-b79K vision_config (OpenCLIP ViT-H/14)"),
    ),
    default_width=832, default_height=480, default_frames=81,
    denoisers=("transformer",),
)

_WAN22_A14B_PARAMS = ("Wan-AI/Wan2.2-T2V-A14B model card: two experts of about 14B parameters each, 27B in "
                      "total, 14B active per step (rounded: each released expert holds 14.29B)")

WAN22_T2V_A14B = Release(
    name="Wan2.2-T2V-A14B",
    family="wan",
    components=(
        _wan_transformer("transformer", _WAN_14B, "Wan-AI/Wan2.2-T2V-A14B-Diffusers", "Wan2.2-T2V-A14B",
                         14_000_000_000, _WAN22_A14B_PARAMS),
        _wan_transformer("transformer_2", _WAN_14B, "Wan-AI/Wan2.2-T2V-A14B-Diffusers", "Wan2.2-T2V-A14B",
                         14_000_000_000, _WAN22_A14B_PARAMS),
        _wan21_vae("Wan-AI/Wan2.2-T2V-A14B-Diffusers"),
        _umt5("Wan-AI/Wan2.2-T2V-A14B-Diffusers"),
    ),
    default_width=1280, default_height=720, default_frames=81,
    denoisers=("transformer", "transformer_2"),
)

WAN22_TI2V_5B = Release(
    name="Wan2.2-TI2V-5B",
    family="wan",
    components=(
        _wan_transformer("transformer", _WAN_5B, "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "Wan2.2-TI2V-5B",
                         5_000_000_000, "the model's name, TI2V-5B (Wan-AI/Wan2.2-TI2V-5B model card; rounded)"),
        Component("vae", "diffusers", "AutoencoderKLWan", _WAN22_VAE_CONFIG,
                  f"Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json (Wan2.2_VAE.pth) = {_WAN_CONVERT} "
                  "vae22_diffusers_config; cf. diffusers tests/pipelines/wan/test_wan_22_image_to_video.py"),
        _umt5("Wan-AI/Wan2.2-TI2V-5B-Diffusers"),
    ),
    default_width=1280, default_height=704, default_frames=121,
    denoisers=("transformer",),
)

# ---------------------------------------------------------------------------------------------------------
# I2VGen-XL and ModelScope text-to-video
# ---------------------------------------------------------------------------------------------------------

I2VGEN_XL = Release(
    name="I2VGen-XL",
    family="i2vgenxl",
    components=(
        Component("unet", "diffusers", "I2VGenXLUNet",
                  {"sample_size": 32, "in_channels": 4, "out_channels": 4,
                   "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "norm_num_groups": 32,
                   "cross_attention_dim": 1024, "attention_head_dim": 64, "num_attention_heads": None},
                  "ali-vilab/i2vgen-xl unet/config.json = diffusers scripts/convert_i2vgen_to_diffusers.py "
                  "I2VGenXLUNet(sample_size=32)",
                  None, "no count published in the ali-vilab/i2vgen-xl model card or the paper (arXiv 2311.04145)"),
        Component("vae", "diffusers", "AutoencoderKL", SD_VAE,
                  "ali-vilab/i2vgen-xl vae/config.json (Stable Diffusion 2.1's VAE, from v2-1_512-ema-pruned.ckpt "
                  "in scripts/convert_i2vgen_to_diffusers.py)"),
        Component("text_encoder", "transformers", "CLIPTextModel", CLIP_H_TEXT,
                  "ali-vilab/i2vgen-xl text_encoder/config.json = laion/CLIP-ViT-H-14-laion2B-s32B-b79K "
                  "text_config (scripts/convert_i2vgen_to_diffusers.py CLIP_ID)"),
        Component("image_encoder", "transformers", "CLIPVisionModelWithProjection", CLIP_H_VISION,
                  "ali-vilab/i2vgen-xl image_encoder/config.json = laion/CLIP-ViT-H-14-laion2B-s32B-b79K "
                  "vision_config (scripts/convert_i2vgen_to_diffusers.py CLIP_ID)"),
    ),
    default_width=1280, default_height=704, default_frames=16,
    denoisers=("unet",),
)

MODELSCOPE_T2V = Release(
    name="text-to-video-ms-1.7b",
    family="modelscope",
    components=(
        Component("unet", "diffusers", "UNet3DConditionModel",
                  {"sample_size": 32, "in_channels": 4, "out_channels": 4,
                   "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
                   "cross_attention_dim": 1024, "attention_head_dim": 64, "norm_num_groups": 32},
                  "ali-vilab/text-to-video-ms-1.7b (formerly damo-vilab/) unet/config.json = diffusers "
                  "scripts/convert_ms_text_to_video_to_diffusers.py UNet3DConditionModel()",
                  None, "the model card's 'overall model parameters are about 1.7 billion' is the whole pipeline "
                  "(UNet 1.41B + text encoder 0.34B + VAE 0.08B here), not the UNet, so no UNet figure"),
        Component("vae", "diffusers", "AutoencoderKL", SD_VAE,
                  "ali-vilab/text-to-video-ms-1.7b vae/config.json (Stable Diffusion's VAE)"),
        Component("text_encoder", "transformers", "CLIPTextModel", {**CLIP_H_TEXT, "num_hidden_layers": 23,
                                                                      "projection_dim": 512},
                  "ali-vilab/text-to-video-ms-1.7b text_encoder/config.json (OpenCLIP ViT-H/14 text tower cut "
                  "at the penultimate layer, 23 layers, as Stable Diffusion 2's text_encoder)"),
    ),
    default_width=256, default_height=256, default_frames=16,
    denoisers=("unet",),
)

RELEASES: tuple[Release, ...] = (
    COGVIDEOX_2B,
    COGVIDEOX_5B,
    COGVIDEOX_5B_I2V,
    HUNYUANVIDEO,
    LTX_VIDEO,
    MOCHI_1,
    SVD_XT,
    ANIMATEDIFF,
    WAN21_T2V_1_3B,
    WAN21_T2V_14B,
    WAN21_I2V_14B_480P,
    WAN22_T2V_A14B,
    WAN22_TI2V_5B,
    I2VGEN_XL,
    MODELSCOPE_T2V,
)


def by_name(name: str) -> Release:
    """The release called `name` (as Release.name, case-insensitive)."""
    for release in RELEASES:
        if release.name.lower() == name.lower():
            return release
    raise KeyError(f"no released config named {name!r}; known: {', '.join(r.name for r in RELEASES)}")


def build_on_meta(component: Component) -> torch.nn.Module:
    """The component's module with every parameter on the meta device: shapes without storage, so a 14B
    transformer costs nothing to build."""
    from accelerate import init_empty_weights

    if component.library not in ("diffusers", "transformers"):
        raise ValueError(f"unknown library {component.library!r} for {component.class_name}")
    cls = getattr(importlib.import_module(component.library), component.class_name)
    config = dict(component.config)
    if component.library == "transformers":
        # Not under init_empty_weights: its re-registered parameters would untie the tied embeddings (T5's
        # shared / encoder.embed_tokens) and count them twice.
        with torch.device("meta"):
            return cls(cls.config_class(**config))
    # torch.device("meta") catches factory calls; init_empty_weights also moves parameters made with the legacy
    # torch.Tensor(...) constructor, which ignores the device context (SVD's time_mixer.mix_factor).
    with torch.device("meta"), init_empty_weights():
        return cls.from_config(config)


def parameter_count(module: torch.nn.Module) -> int:
    """Parameters of `module`, each shared (tied) tensor counted once, as Module.parameters() yields them."""
    return sum(param.numel() for param in module.parameters())
