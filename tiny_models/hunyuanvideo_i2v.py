"""Tiny HunyuanVideo image-to-video folders, built offline: HunyuanVideo-I2V (as
hunyuanvideo-community/HunyuanVideo-I2V: first latent frame replaced by the image's, "token_replace"; and the
first release, HunyuanVideo-I2V-33ch: image latents and a mask concatenated, "latent_concat") and SkyReels-V1
(Skywork/SkyReels-V1-Hunyuan-I2V in a HunyuanVideo folder: image latents concatenated, 32 input channels) and
FramePack (lllyasviel/FramePackI2V_HY in a HunyuanVideo folder with flux_redux_bfl's SigLIP image encoder).

Configs follow diffusers' own tests (tests/pipelines/hunyuan_video/test_hunyuan_image2video.py,
test_hunyuan_skyreels_image2video.py, test_hunyuan_video_framepack.py) with the T2V tiny model's 16 latent
channels and 2x2 patches. The I2V text encoder is a Llava (CLIP vision tower + 3-layer Llama): its tokenizer
keeps the Llama-3 chat tokens, "<image>" and "assistant" whole, so the pipeline's I2V template and its crops
work as on the real tokenizer (only the lengths differ); the vision tower sees 32x32 images in 8x8 patches,
16 image tokens where the real one has 576.
"""

from __future__ import annotations

import os
import tempfile

from .hunyuanvideo import CHAT_TOKENS

IMAGE_TOKEN = "<image>"
# Single tokens in Llama-3's vocabulary that the I2V template's crops count on: the pipeline cuts the four
# tokens "<|eot_id|><|start_header_id|>assistant<|end_header_id|>" before the assistant's answer.
I2V_TOKENS = (*CHAT_TOKENS, IMAGE_TOKEN, "assistant")
VISION_SIZE, VISION_PATCH = 32, 8


def _vae():
    import torch
    from diffusers import AutoencoderKLHunyuanVideo

    torch.manual_seed(0)
    return AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4, up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu", norm_num_groups=4,
        scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
        mid_block_add_attention=True,
    ).eval()


def _transformer(in_channels: int, guidance_embeds: bool, image_condition_type: str | None):
    import torch
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    return HunyuanVideoTransformer3DModel(
        in_channels=in_channels, out_channels=16, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=guidance_embeds,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
        image_condition_type=image_condition_type,
    ).eval()


def _clip_side(tmp: str):
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from .tokenizers import build_clip_tokenizer

    tokenizer_2 = CLIPTokenizer.from_pretrained(build_clip_tokenizer(os.path.join(tmp, "tokenizer_2")))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
        pad_token_id=tokenizer_2.pad_token_id, hidden_size=8, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer_2), projection_dim=32)).eval()
    return tokenizer_2, text_encoder_2


def build_hunyuanvideo_i2v(dest: str, image_condition_type: str = "token_replace") -> str:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoImageToVideoPipeline
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video_image2video import DEFAULT_PROMPT_TEMPLATE
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlamaTokenizer,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    from .tokenizers import build_llama_tokenizer

    template = DEFAULT_PROMPT_TEMPLATE["template"].replace("{}", " ")
    for token in I2V_TOKENS:
        template = template.replace(token, "\n")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = LlamaTokenizer.from_pretrained(build_llama_tokenizer(
            os.path.join(tmp, "tokenizer"), 1000, I2V_TOKENS, tuple(template.split("\n"))))
        tokenizer_2, text_encoder_2 = _clip_side(tmp)
    image_token = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    text_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=37, num_attention_heads=4, num_hidden_layers=3,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, rms_norm_eps=1e-05)
    vision_config = CLIPVisionConfig(hidden_size=8, intermediate_size=37, projection_dim=32, num_attention_heads=4,
                                     num_hidden_layers=2, image_size=VISION_SIZE, patch_size=VISION_PATCH)
    torch.manual_seed(0)
    text_encoder = LlavaForConditionalGeneration(LlavaConfig(
        vision_config=vision_config, text_config=text_config, pad_token_id=tokenizer.pad_token_id,
        image_token_index=image_token, image_seq_length=(VISION_SIZE // VISION_PATCH) ** 2)).eval()
    # llava-llama-3-8b's processor, at the tiny vision tower's size.
    image_processor = CLIPImageProcessor(
        crop_size=VISION_SIZE, size=VISION_SIZE, do_center_crop=True, do_normalize=True, do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711], resample=3)
    concat = image_condition_type == "latent_concat"
    # The 33-channel release has no embedded guidance; the token-replace one has (its guide: guidance 6.0).
    transformer = _transformer(2 * 16 + 1 if concat else 16, not concat, image_condition_type)
    HunyuanVideoImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, tokenizer_2=tokenizer_2, text_encoder_2=text_encoder_2,
        vae=_vae(), transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        image_processor=image_processor,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


def build_hunyuanvideo_i2v_33ch(dest: str) -> str:
    return build_hunyuanvideo_i2v(dest, "latent_concat")


def _llama_side(tmp: str):
    """HunyuanVideo's own text side (Llama + CLIP), as the T2V tiny model builds it."""
    import torch
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE
    from transformers import LlamaConfig, LlamaModel, LlamaTokenizer

    from .tokenizers import build_llama_tokenizer

    template = DEFAULT_PROMPT_TEMPLATE["template"].replace("{}", " ")
    for token in CHAT_TOKENS:
        template = template.replace(token, "\n")
    tokenizer = LlamaTokenizer.from_pretrained(build_llama_tokenizer(
        os.path.join(tmp, "tokenizer"), 1000, CHAT_TOKENS, tuple(template.split("\n"))))
    tokenizer_2, text_encoder_2 = _clip_side(tmp)
    torch.manual_seed(0)
    text_encoder = LlamaModel(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=37, num_attention_heads=4, num_hidden_layers=3,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, rms_norm_eps=1e-05)).eval()
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "tokenizer_2": tokenizer_2,
            "text_encoder_2": text_encoder_2}


def build_skyreels_v1_i2v(dest: str) -> str:
    """SkyReels-V1-Hunyuan-I2V: HunyuanVideo's text encoders and VAE with a DiT taking the noise and the image
    latents side by side (32 channels)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanSkyreelsImageToVideoPipeline

    with tempfile.TemporaryDirectory() as tmp:
        text_side = _llama_side(tmp)
    HunyuanSkyreelsImageToVideoPipeline(
        **text_side, vae=_vae(), transformer=_transformer(32, True, None),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
    ).save_pretrained(dest, safe_serialization=True)
    return dest


SIGLIP_WIDTH = 32  # the image encoder's hidden size, which the FramePack DiT's image projection takes


def build_hunyuanvideo_framepack(dest: str) -> str:
    """FramePack: a HunyuanVideoFramepackTransformer3DModel (image projection and clean-latent embedders, as
    diffusers' test has them) with HunyuanVideo's text side and VAE and a SigLIP vision encoder."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoFramepackPipeline,
        HunyuanVideoFramepackTransformer3DModel,
    )
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    with tempfile.TemporaryDirectory() as tmp:
        text_side = _llama_side(tmp)
    torch.manual_seed(0)
    transformer = HunyuanVideoFramepackTransformer3DModel(
        in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), image_condition_type=None,
        has_image_proj=True, image_proj_dim=SIGLIP_WIDTH, has_clean_x_embedder=True,
    ).eval()
    torch.manual_seed(0)
    image_encoder = SiglipVisionModel(SiglipVisionConfig(
        hidden_size=SIGLIP_WIDTH, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=32,
        patch_size=8)).eval()
    feature_extractor = SiglipImageProcessor(size={"height": 32, "width": 32})
    HunyuanVideoFramepackPipeline(
        **text_side, vae=_vae(), transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        image_encoder=image_encoder, feature_extractor=feature_extractor,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"hunyuanvideo_i2v": "build_hunyuanvideo_i2v", "hunyuanvideo_i2v_33ch": "build_hunyuanvideo_i2v_33ch",
               "skyreels_v1_i2v": "build_skyreels_v1_i2v", "hunyuanvideo_framepack": "build_hunyuanvideo_framepack"}
