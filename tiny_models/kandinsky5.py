"""Tiny Kandinsky 5 text-to-video and image-to-video folders (as kandinskylab/Kandinsky-5.0-*-Diffusers), built
offline.

Configs follow diffusers' own tests (tests/pipelines/kandinsky5/test_kandinsky5.py and test_kandinsky5_i2v.py):
a 32-wide Qwen2.5-VL, a 16-wide CLIP and a 16-wide Kandinsky5Transformer3DModel with 1x2x2 patches, beside a
HunyuanVideo VAE with the real model's 8x spatial / 4x temporal compression (four blocks; diffusers' test VAE
has fewer and compresses less than its config says).

The released folders' `tokenizer` is a Qwen2VLProcessor. transformers 5 cannot build one without torchvision
(its video processor needs it, and the processor checks every sub-processor's class, even an absent one), which
this test environment lacks; the pipeline only calls the processor's text side (`tokenizer(text=..., images=None,
videos=None)`, `tokenizer.decode`), which a Qwen2Tokenizer answers identically. So the tiny folders carry a
Qwen2Tokenizer: byte-level BPE trained here on the generated corpus and the pipeline's prompt template, with
Qwen2.5's chat and vision special tokens kept whole.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter

from .tokenizers import _learn_merges

# Qwen2's pre-tokenizer split (transformers' tokenization_qwen2.PRETOKENIZE_REGEX).
PRETOKENIZE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
               r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


def build_qwen2_tokenizer(out_dir: str, extra_text: tuple[str, ...] = (), merges: int = 400) -> str:
    """A Qwen2 tokenizer (byte-level BPE, eos <|im_end|>, pad <|endoftext|>, right padding) made here."""
    import regex
    from transformers import Qwen2Tokenizer

    from .tokenizers import _bytes_to_unicode, corpus

    byte_chars = _bytes_to_unicode()
    words: Counter = Counter()
    for line in corpus() + [t for t in extra_text if t.strip()]:
        for piece in regex.findall(PRETOKENIZE, line):
            words["".join(byte_chars[b] for b in piece.encode("utf-8"))] += 1
    learned = _learn_merges(words, merges, end_of_word=False)
    tokens = list(byte_chars.values()) + ["".join(pair) for pair in learned]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=learned, unk_token=None, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", extra_special_tokens=list(SPECIAL_TOKENS[1:]))
    tokenizer.padding_side = "right"
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _components(visual_cond: bool):
    import torch
    from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, Kandinsky5Transformer3DModel
    from diffusers.pipelines.kandinsky5.pipeline_kandinsky import Kandinsky5T2VPipeline
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2Tokenizer,
    )

    from .tokenizers import build_clip_tokenizer

    # The pipeline sets its prompt template in __init__; a bare instance gives it without any component.
    template = Kandinsky5T2VPipeline(None, None, None, None, None, None, None).prompt_template
    template_lines = tuple(template.replace("{}", " ").split("\n"))
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Qwen2Tokenizer.from_pretrained(build_qwen2_tokenizer(os.path.join(tmp, "tokenizer"),
                                                                         template_lines))
        tokenizer_2 = CLIPTokenizer.from_pretrained(build_clip_tokenizer(os.path.join(tmp, "tokenizer_2")))
    qwen_hidden, clip_hidden = 32, 16
    ids = tokenizer.convert_tokens_to_ids
    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config={"hidden_size": qwen_hidden, "intermediate_size": qwen_hidden, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                     "rope_scaling": {"mrope_section": [2, 2, 4], "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0, "bos_token_id": None, "eos_token_id": ids("<|im_end|>"),
                     "pad_token_id": ids("<|endoftext|>")},
        vision_config={"depth": 2, "hidden_size": qwen_hidden, "intermediate_size": qwen_hidden, "num_heads": 2,
                       "out_hidden_size": qwen_hidden},
        hidden_size=qwen_hidden, vocab_size=len(tokenizer), vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"), vision_token_id=ids("<|vision_pad|>"),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
    )).eval()
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
        pad_token_id=tokenizer_2.pad_token_id, hidden_size=clip_hidden, intermediate_size=16, layer_norm_eps=1e-05,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=len(tokenizer_2), projection_dim=clip_hidden)).eval()
    torch.manual_seed(0)
    transformer = Kandinsky5Transformer3DModel(
        in_visual_dim=16, in_text_dim=qwen_hidden, in_text_dim2=clip_hidden, time_dim=16, out_visual_dim=16,
        patch_size=(1, 2, 2), model_dim=16, ff_dim=32, num_text_blocks=1, num_visual_blocks=2, axes_dims=(1, 1, 2),
        visual_cond=visual_cond, attention_type="regular",
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4, up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu", norm_num_groups=4,
        scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
        mid_block_add_attention=True,
    ).eval()
    # Kandinsky-5's inference script samples with scheduler_scale 5.0 (FlowMatch shift).
    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "tokenizer_2": tokenizer_2,
            "text_encoder_2": text_encoder_2, "transformer": transformer, "vae": vae, "scheduler": scheduler}


def build_kandinsky5_t2v(dest: str) -> str:
    from diffusers import Kandinsky5T2VPipeline

    Kandinsky5T2VPipeline(**_components(visual_cond=False)).save_pretrained(dest, safe_serialization=True)
    return dest


def build_kandinsky5_i2v(dest: str) -> str:
    from diffusers import Kandinsky5I2VPipeline

    Kandinsky5I2VPipeline(**_components(visual_cond=True)).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"kandinsky5": "build_kandinsky5_t2v", "kandinsky5_i2v": "build_kandinsky5_i2v"}
