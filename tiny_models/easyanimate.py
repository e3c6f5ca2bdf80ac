"""Tiny EasyAnimate V5.1 folders (as alibaba-pai/EasyAnimateV5.1-12b-zh{,-Control,-InP}-diffusers), built offline.

Configs follow diffusers' own test (tests/pipelines/easyanimate/test_easyanimate.py): an
EasyAnimateTransformer3DModel with 2x2 patches and an AutoencoderKLMagvit with four blocks (8x spatial, 4x
temporal compression), here with the released models' 16 latent channels. The text encoder is a Qwen2-VL
(Qwen2VLForConditionalGeneration, as V5.1 has; diffusers' test loads hf-internal-testing's tiny random one,
which cannot be downloaded here), built from a config, with a Qwen2Tokenizer trained here (the Kandinsky 5
builder's byte-level BPE) that carries Qwen2-VL's chat template: the pipelines call
`tokenizer.apply_chat_template` on every prompt. V5.1's folders hold a bare Qwen2Tokenizer too, so no
Qwen2VLProcessor (which transformers 5 cannot build without torchvision) is needed.

The control folder's transformer takes the noise, the control video's latents and a reference image's latents
(3 x 16 channels); the inpaint folder's takes the noise, a one-channel mask resized onto the latents
(resize_inpaint_mask_directly) and the masked video's latents (16 + 1 + 16).
"""

from __future__ import annotations

import json
import os
import tempfile

LATENT_CHANNELS = 16
QWEN_HIDDEN = 32

# Qwen2-VL-Instruct's chat template (its tokenizer_config.json), which EasyAnimate's prompts go through.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _text_side():
    import torch
    from transformers import Qwen2Tokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from .kandinsky5 import build_qwen2_tokenizer

    template_lines = ("system", "You are a helpful assistant.", "user", "assistant")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Qwen2Tokenizer.from_pretrained(build_qwen2_tokenizer(os.path.join(tmp, "tokenizer"),
                                                                         template_lines))
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    ids = tokenizer.convert_tokens_to_ids
    torch.manual_seed(0)
    text_encoder = Qwen2VLForConditionalGeneration(Qwen2VLConfig(
        text_config={"hidden_size": QWEN_HIDDEN, "intermediate_size": QWEN_HIDDEN, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                     "rope_parameters": {"mrope_section": [2, 2, 4], "rope_type": "default", "rope_theta": 1e6},
                     "bos_token_id": None, "eos_token_id": ids("<|im_end|>"), "pad_token_id": ids("<|endoftext|>")},
        vision_config={"depth": 2, "embed_dim": QWEN_HIDDEN, "hidden_size": QWEN_HIDDEN, "num_heads": 2,
                       "mlp_ratio": 1},
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )).eval()
    return tokenizer, text_encoder


def _components(in_channels: int, **transformer_config):
    import torch
    from diffusers import AutoencoderKLMagvit, EasyAnimateTransformer3DModel, FlowMatchEulerDiscreteScheduler

    tokenizer, text_encoder = _text_side()
    torch.manual_seed(0)
    transformer = EasyAnimateTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=in_channels, out_channels=LATENT_CHANNELS,
        time_embed_dim=2, text_embed_dim=QWEN_HIDDEN, num_layers=1, sample_width=16, sample_height=16,
        patch_size=2, **transformer_config,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLMagvit(
        in_channels=3, out_channels=3,
        down_block_types=("SpatialDownBlock3D",) + ("SpatialTemporalDownBlock3D",) * 3,
        up_block_types=("SpatialUpBlock3D",) + ("SpatialTemporalUpBlock3D",) * 3,
        block_out_channels=(8, 8, 8, 8), latent_channels=LATENT_CHANNELS, layers_per_block=1, norm_num_groups=2,
        spatial_group_norm=False,
    ).eval()
    # The released V5.1 folders' scheduler: FlowMatch Euler (the pipelines pass mu=1 to it).
    scheduler = FlowMatchEulerDiscreteScheduler()
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "transformer": transformer, "vae": vae,
            "scheduler": scheduler}


def build_easyanimate(dest: str) -> str:
    from diffusers import EasyAnimatePipeline

    EasyAnimatePipeline(**_components(LATENT_CHANNELS)).save_pretrained(dest, safe_serialization=True)
    return dest


def build_easyanimate_control(dest: str) -> str:
    from diffusers import EasyAnimateControlPipeline

    EasyAnimateControlPipeline(**_components(3 * LATENT_CHANNELS)).save_pretrained(dest, safe_serialization=True)
    return dest


def build_easyanimate_inpaint(dest: str) -> str:
    from diffusers import EasyAnimateInpaintPipeline

    components = _components(2 * LATENT_CHANNELS + 1, resize_inpaint_mask_directly=True,
                             add_noise_in_inpaint_model=True)
    EasyAnimateInpaintPipeline(**components).save_pretrained(dest, safe_serialization=True)
    # EasyAnimateInpaintPipeline reads vae.config.cache_mag_vae, a key of EasyAnimate's own Magvit config that
    # AutoencoderKLMagvit does not declare (so save_pretrained drops it); the key is kept in the config file as
    # EasyAnimate's V5.1 VAE config has it, so diffusers' pipeline runs on this folder unchanged.
    vae_config = os.path.join(dest, "vae", "config.json")
    with open(vae_config, encoding="utf-8") as f:
        config = json.load(f)
    config["cache_mag_vae"] = True
    with open(vae_config, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"easyanimate": "build_easyanimate", "easyanimate_control": "build_easyanimate_control",
               "easyanimate_inpaint": "build_easyanimate_inpaint"}
