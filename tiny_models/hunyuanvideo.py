"""A tiny HunyuanVideo text-to-video folder (as hunyuanvideo-community/HunyuanVideo), built offline.

Configs follow diffusers' own test (tests/pipelines/hunyuan_video/test_hunyuan_video.py), with the real
model's 2x2 patches, 16 latent channels and shift-7 FlowMatch Euler scheduler. The Llama tokenizer is
trained here and keeps Llama-3's chat header tokens whole, so the pipeline's prompt template tokenizes the
way it does for the real model (only its length differs); the Llama has 3 layers because the pipeline
reads hidden_states[-3].
"""

from __future__ import annotations

import os
import tempfile

# Llama-3's chat tokens that HunyuanVideo's prompt template is made of.
CHAT_TOKENS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")


def build_hunyuanvideo(dest: str) -> str:
    import torch
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, LlamaConfig, LlamaModel, LlamaTokenizer

    from .tokenizers import build_clip_tokenizer, build_llama_tokenizer

    template = DEFAULT_PROMPT_TEMPLATE["template"].replace("{}", " ")
    for token in CHAT_TOKENS:
        template = template.replace(token, "\n")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = LlamaTokenizer.from_pretrained(build_llama_tokenizer(
            os.path.join(tmp, "tokenizer"), 1000, CHAT_TOKENS, tuple(template.split("\n"))))
        tokenizer_2 = CLIPTokenizer.from_pretrained(build_clip_tokenizer(os.path.join(tmp, "tokenizer_2")))
    torch.manual_seed(0)
    text_encoder = LlamaModel(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=37, num_attention_heads=4, num_hidden_layers=3,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, rms_norm_eps=1e-05)).eval()
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
        pad_token_id=tokenizer_2.pad_token_id, hidden_size=8, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer_2), projection_dim=32)).eval()
    torch.manual_seed(0)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4, up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu", norm_num_groups=4,
        scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
        mid_block_add_attention=True,
    ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    HunyuanVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, tokenizer_2=tokenizer_2,
                         text_encoder_2=text_encoder_2, vae=vae, transformer=transformer,
                         scheduler=scheduler).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"hunyuanvideo": "build_hunyuanvideo"}
