"""A tiny Stable Diffusion 1.5 folder and a tiny AnimateDiff motion adapter for it, built offline.

Configs follow diffusers' own test (tests/pipelines/animatediff/test_animatediff.py), with a text encoder
as wide as the UNet's cross-attention.
"""

from __future__ import annotations

import os
import tempfile

BLOCKS = (8, 8)


def build_sd15(dest: str) -> str:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from .tokenizers import build_clip_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(build_clip_tokenizer(os.path.join(tmp, "tokenizer")))
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=BLOCKS, layers_per_block=2, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8, norm_num_groups=2,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=BLOCKS, in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, norm_num_groups=2,
    ).eval()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=8, intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=3,
        vocab_size=len(tokenizer))).eval()
    # SD1.5's own scheduler is PNDM; DVApplyMotionAdapter switches to DDIM as the AnimateDiff guide does.
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                            ).save_pretrained(dest, safe_serialization=True)
    return dest


def build_motion_adapter(dest: str) -> str:
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    MotionAdapter(block_out_channels=BLOCKS, motion_layers_per_block=2, motion_norm_num_groups=2,
                  motion_num_attention_heads=4).eval().save_pretrained(dest, safe_serialization=True)
    return dest


def build_controlnet(dest: str) -> str:
    """A tiny SD1.5 ControlNet made from the tiny SD1.5 UNet, as ControlNet training starts. Its zero
    convolutions are given random weights so the control actually changes the result in tests."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from .cache import tiny_model_path

    unet = UNet2DConditionModel.from_pretrained(tiny_model_path("sd15"), subfolder="unet")
    # Two conditioning blocks: one stride-2 step, the tiny VAE's factor (SD1.5's real one has four, 8x).
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8)).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in controlnet.named_parameters():
            zero_initialised = ("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")
            if name.startswith(zero_initialised):
                param.normal_(0.0, 0.3)
    controlnet.save_pretrained(dest, safe_serialization=True)
    return dest


def build_pix2pix(dest: str) -> str:
    """A tiny InstructPix2Pix folder: the tiny SD1.5 with a UNet that also takes the image latents
    (8 input channels), as timbrooks/instruct-pix2pix is laid out."""
    import torch
    from diffusers import StableDiffusionInstructPix2PixPipeline, StableDiffusionPipeline, UNet2DConditionModel

    from .cache import tiny_model_path

    sd = StableDiffusionPipeline.from_pretrained(tiny_model_path("sd15"))
    config = dict(sd.unet.config)
    config["in_channels"] = 8
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(config).eval()
    StableDiffusionInstructPix2PixPipeline(
        vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer, unet=unet, scheduler=sd.scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


def _randomise_zero_convolutions(controlnet) -> None:
    """ControlNets start with zero convolutions (no effect at all); random ones make the control matter in tests."""
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in controlnet.named_parameters():
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block",
                                "controlnet_cond_embedding.conv_out")):
                param.normal_(0.0, 0.3)


def build_sparse_controlnet(dest: str, rgb: bool = False) -> str:
    """A tiny SparseCtrl ControlNet for the tiny SD1.5 (config of diffusers' test_animatediff_sparsectrl.py):
    control images taken as pixels, as the scribble SparseCtrl does; rgb: as latents the VAE encodes (the RGB
    SparseCtrl's simplified condition embedding)."""
    import torch
    from diffusers import SparseControlNetModel

    torch.manual_seed(0)
    controlnet = SparseControlNetModel(
        block_out_channels=BLOCKS, layers_per_block=2, in_channels=4, conditioning_channels=4 if rgb else 3,
        down_block_types=("CrossAttnDownBlockMotion", "DownBlockMotion"), cross_attention_dim=8,
        conditioning_embedding_out_channels=(8, 8), norm_num_groups=1, use_simplified_condition_embedding=rgb,
    ).eval()
    _randomise_zero_convolutions(controlnet)
    controlnet.save_pretrained(dest, safe_serialization=True)
    return dest


def build_sparse_controlnet_rgb(dest: str) -> str:
    return build_sparse_controlnet(dest, rgb=True)


SDXL_BLOCKS = (32, 64, 128)


def build_sdxl(dest: str) -> str:
    """A tiny Stable Diffusion XL folder (config of diffusers' test_animatediff_sdxl.py): two CLIP text encoders,
    a UNet with SDXL's text-time embedding."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from .tokenizers import build_clip_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(build_clip_tokenizer(os.path.join(tmp, "tokenizer")))
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=SDXL_BLOCKS, layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 8), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2, 4),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + the pooled text width 32
        cross_attention_dim=64, norm_num_groups=1,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, sample_size=128,
        scaling_factor=0.13025,  # SDXL's own, so a test sees it read from the VAE rather than SD1.5's
    ).eval()
    config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5,
        vocab_size=len(tokenizer), hidden_act="gelu", projection_dim=32)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(config).eval()
    text_encoder_2 = CLIPTextModelWithProjection(config).eval()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
                              tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
                              ).save_pretrained(dest, safe_serialization=True)
    return dest


def build_motion_adapter_sdxl(dest: str) -> str:
    """A tiny SDXL motion adapter (no motion mid block, as animatediff-motion-adapter-sdxl-beta)."""
    import torch
    from diffusers import MotionAdapter

    torch.manual_seed(0)
    MotionAdapter(block_out_channels=SDXL_BLOCKS, motion_layers_per_block=2, motion_norm_num_groups=2,
                  motion_num_attention_heads=4, use_motion_mid_block=False,
                  ).eval().save_pretrained(dest, safe_serialization=True)
    return dest


def build_controlnet_sdxl(dest: str) -> str:
    """A tiny SDXL ControlNet from the tiny SDXL UNet: a ControlNet of another base than SD1.5, for refusals."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    from .cache import tiny_model_path

    unet = UNet2DConditionModel.from_pretrained(tiny_model_path("sdxl"), subfolder="unet")
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8)).eval()
    controlnet.save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"sd15": "build_sd15", "motion_adapter": "build_motion_adapter", "controlnet": "build_controlnet",
               "pix2pix": "build_pix2pix", "sparse_controlnet": "build_sparse_controlnet",
               "sparse_controlnet_rgb": "build_sparse_controlnet_rgb", "sdxl": "build_sdxl",
               "motion_adapter_sdxl": "build_motion_adapter_sdxl", "controlnet_sdxl": "build_controlnet_sdxl"}
