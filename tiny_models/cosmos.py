"""A tiny Cosmos Predict 2 video-to-world folder (as nvidia/Cosmos-Predict2-2B-Video2World), built offline.

Configs follow diffusers' own test (tests/pipelines/cosmos/test_cosmos2_video2world.py: a 2-layer
CosmosTransformer3DModel taking 16+1 channels, the Wan2.1 VAE, FlowMatch Euler on Karras sigmas as the
conversion script saves it) with the shared tiny T5 (32 wide, so text_embed_dim 32). Two changes, both toward the
released 2B Video2World config: no learnable position embedding and rope_scale (1, 3, 3); and one away from
it: concat_padding_mask is off, because diffusers resizes that (all-zero) padding mask with torchvision, which
cannot be installed against the CPU torch of the test machines (PyPI's torchvision wheels link libtorch_cuda).
The family refuses a padding-mask model without torchvision by name.

The folder is saved as the conversion script saves it: with no safety checker (model_index.json's
`safety_checker: [null, null]`); the guardrail is a separate package the nodes load when it is chosen.
"""

from __future__ import annotations

MAX_SIZE = (16, 64, 64)  # latent frames, height, width the position embeddings cover: up to 61 frames, 512 px


def build_cosmos(dest: str) -> str:
    import torch
    from diffusers import (
        AutoencoderKLWan,
        Cosmos2VideoToWorldPipeline,
        CosmosTransformer3DModel,
        FlowMatchEulerDiscreteScheduler,
    )

    from .tokenizers import tiny_t5_text_side

    tokenizer, text_encoder = tiny_t5_text_side()
    torch.manual_seed(0)
    transformer = CosmosTransformer3DModel(
        in_channels=16 + 1, out_channels=16, num_attention_heads=2, attention_head_dim=16, num_layers=2,
        mlp_ratio=2, text_embed_dim=32, adaln_lora_dim=4, max_size=MAX_SIZE, patch_size=(1, 2, 2),
        rope_scale=(1.0, 3.0, 3.0), concat_padding_mask=False, extra_pos_embed_type=None,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(use_karras_sigmas=True)
    Cosmos2VideoToWorldPipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae, scheduler=scheduler,
        safety_checker=lambda *args, **kwargs: None,  # as the conversion script: saved as [null, null]
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# Qwen2-VL's chat template (as the released Qwen2.5-VL tokenizer carries it): Predict 2.5 encodes every prompt
# as a system + user conversation through it.
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SYSTEM_PROMPT = "You are a helpful assistant who will provide prompts to an image generator."


def build_cosmos25(dest: str) -> str:
    """A tiny Cosmos Predict 2.5 folder (as nvidia/Cosmos-Predict2.5-2B, diffusers/base/post-trained).

    After diffusers' test (tests/pipelines/cosmos/test_cosmos2_5_predict.py): a 2-layer, 32-wide Qwen2.5-VL whose
    two normalised hidden layers the pipeline concatenates (64 wide), and the DiT of the tiny Predict 2 model
    with the released 2.5 config's cross-attention projection (64 -> its text width 32). The tokenizer is the
    Kandinsky 5 tiny Qwen2 tokenizer (trained here, Qwen's special tokens whole) with Qwen2-VL's chat template.
    The scheduler is the conversion script's: UniPC on Karras flow sigmas between 0.01 and 200.
    """
    import os
    import tempfile

    import torch
    from diffusers import (
        AutoencoderKLWan,
        Cosmos2_5_PredictBasePipeline,
        CosmosTransformer3DModel,
        UniPCMultistepScheduler,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer

    from .kandinsky5 import build_qwen2_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Qwen2Tokenizer.from_pretrained(build_qwen2_tokenizer(os.path.join(tmp, "tokenizer"),
                                                                         (SYSTEM_PROMPT,)))
    tokenizer.chat_template = QWEN_VL_CHAT_TEMPLATE
    hidden, layers = 32, 2
    ids = tokenizer.convert_tokens_to_ids
    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config={"hidden_size": hidden, "intermediate_size": hidden, "num_hidden_layers": layers,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                     "rope_scaling": {"mrope_section": [2, 2, 4], "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0, "bos_token_id": None, "eos_token_id": ids("<|im_end|>"),
                     "pad_token_id": ids("<|endoftext|>")},
        vision_config={"depth": 2, "hidden_size": hidden, "intermediate_size": hidden, "num_heads": 2,
                       "out_hidden_size": hidden},
        hidden_size=hidden, vocab_size=len(tokenizer), vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"), vision_token_id=ids("<|vision_pad|>"),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
    )).eval()
    torch.manual_seed(0)
    transformer = CosmosTransformer3DModel(
        in_channels=16 + 1, out_channels=16, num_attention_heads=2, attention_head_dim=16, num_layers=2,
        mlp_ratio=2, text_embed_dim=32, adaln_lora_dim=4, max_size=MAX_SIZE, patch_size=(1, 2, 2),
        rope_scale=(1.0, 3.0, 3.0), concat_padding_mask=False, extra_pos_embed_type=None,
        use_crossattn_projection=True, crossattn_proj_in_channels=hidden * layers, encoder_hidden_states_channels=32,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    scheduler = UniPCMultistepScheduler(use_karras_sigmas=True, use_flow_sigmas=True,
                                        prediction_type="flow_prediction", sigma_max=200.0, sigma_min=0.01)
    Cosmos2_5_PredictBasePipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae, scheduler=scheduler,
        safety_checker=lambda *args, **kwargs: None,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"cosmos": "build_cosmos", "cosmos25": "build_cosmos25"}
