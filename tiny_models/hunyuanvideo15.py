"""Tiny HunyuanVideo-1.5 text-to-video and image-to-video folders (as hunyuanvideo-community/HunyuanVideo-1.5-
Diffusers-480p_t2v / _i2v), built offline.

Configs follow diffusers' own test (tests/pipelines/hunyuan_video1_5/test_hunyuan_1_5.py): a 16-wide Qwen2.5-VL
text model, a 32-wide T5 encoder with the ByT5 tokenizer (which needs no files), a 16-wide DiT with 1x1 patches.
The VAE keeps the real model's 16x spatial / 4x temporal compression (five blocks; diffusers' test VAE
compresses 4x / 2x), so the frame rule and size multiple are the released ones; the scheduler and guider are the
conversion script's 480p ones (shift 5, guidance 6). The image-to-video folder adds a 16-wide SigLIP vision
model and its image processor, as the released I2V folders carry FLUX.1-Redux's.

The Qwen2 tokenizer is byte-level BPE made here, with Qwen2.5's special tokens and chat template. The pipelines
crop a fixed 108 tokens (the chat header and system message) from the Qwen hidden states; every pre-token of
that header is made one token here, as it is in the released Qwen2.5-VL vocabulary, so the tiny tokenizer counts
the same 108 and the unmodified pipeline is the reference.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections import Counter

LATENT_CHANNELS = 4
TARGET_SIZE = 48  # the DiT's target_size: image-to-video picks its render size from buckets of this area
QWEN_HIDDEN, T5_HIDDEN, SIGLIP_HIDDEN = 16, 32, 16


def _bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-level BPE of one pre-token: the lowest-ranked pair present merges first, as the tokenizer does."""
    while len(symbols) > 1:
        pairs = [(ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:], strict=False)) if pair in ranks]
        if not pairs:
            break
        i = min(pairs)[1]
        symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2:]
    return symbols


def build_chat_qwen2_tokenizer(out_dir: str, whole: tuple[str, ...], merges: int = 300) -> str:
    """A Qwen2 tokenizer whose vocabulary keeps every pre-token of the texts in `whole` as one token: merges are
    added (ranked before the corpus's) until BPE leaves each of them whole. A merge ranked after the ones a
    pre-token needs never fires before them, so later additions keep earlier pre-tokens whole."""
    import regex
    from transformers import Qwen2Tokenizer

    from .cosmos import QWEN_VL_CHAT_TEMPLATE
    from .kandinsky5 import PRETOKENIZE, SPECIAL_TOKENS
    from .tokenizers import _bytes_to_unicode, _learn_merges, corpus

    byte_chars = _bytes_to_unicode()
    ranks: dict[tuple[str, str], int] = {}
    for text in whole:
        for piece in regex.findall(PRETOKENIZE, text):
            symbols = _bpe([byte_chars[b] for b in piece.encode("utf-8")], ranks)
            while len(symbols) > 1:
                ranks[(symbols[0], symbols[1])] = len(ranks)
                symbols = _bpe(symbols, ranks)
    chains = list(ranks)
    words: Counter = Counter()
    for line in corpus():
        for piece in regex.findall(PRETOKENIZE, line):
            words["".join(byte_chars[b] for b in piece.encode("utf-8"))] += 1
    learned = chains + [pair for pair in _learn_merges(words, merges, end_of_word=False) if pair not in chains]
    tokens = list(byte_chars.values()) + ["".join(pair) for pair in learned]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=learned, unk_token=None, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", extra_special_tokens=list(SPECIAL_TOKENS[1:]))
    tokenizer.padding_side = "right"  # as the conversion script loads Qwen2.5-VL's
    tokenizer.chat_template = QWEN_VL_CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _components(task: str) -> dict:
    import torch
    from diffusers import (
        AutoencoderKLHunyuanVideo15,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideo15Pipeline,
        HunyuanVideo15Transformer3DModel,
    )
    from diffusers.guiders import ClassifierFreeGuidance
    from transformers import (
        ByT5Tokenizer,
        Qwen2_5_VLTextConfig,
        Qwen2_5_VLTextModel,
        Qwen2Tokenizer,
        T5Config,
        T5EncoderModel,
    )

    # The system message the pipelines' __init__ sets, as the default of the method that uses it.
    system_message = inspect.signature(HunyuanVideo15Pipeline._get_mllm_prompt_embeds).parameters[
        "system_message"].default
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Qwen2Tokenizer.from_pretrained(build_chat_qwen2_tokenizer(
            os.path.join(tmp, "tokenizer"), (system_message, "system", "user", "assistant")))
    tokenizer_2 = ByT5Tokenizer()
    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(
        hidden_size=QWEN_HIDDEN, intermediate_size=16, num_hidden_layers=3,  # the pipeline reads hidden_states[-3]
        num_attention_heads=2, num_key_value_heads=2, vocab_size=len(tokenizer), rope_theta=1000000.0,
        rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None)).eval()
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer_2), d_model=T5_HIDDEN, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=tokenizer_2.pad_token_id,
        eos_token_id=tokenizer_2.eos_token_id, decoder_start_token_id=0)).eval()
    torch.manual_seed(0)
    transformer = HunyuanVideo15Transformer3DModel(
        in_channels=2 * LATENT_CHANNELS + 1, out_channels=LATENT_CHANNELS, num_attention_heads=2,
        attention_head_dim=8, num_layers=1, num_refiner_layers=1, mlp_ratio=2.0, patch_size=1, patch_size_t=1,
        text_embed_dim=QWEN_HIDDEN, text_embed_2_dim=T5_HIDDEN, image_embed_dim=SIGLIP_HIDDEN,
        rope_axes_dim=(2, 2, 4), target_size=TARGET_SIZE, task_type=task).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo15(
        in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS, block_out_channels=(8,) * 5,
        layers_per_block=1, spatial_compression_ratio=16, temporal_compression_ratio=4).eval()
    return {"transformer": transformer, "vae": vae, "scheduler": FlowMatchEulerDiscreteScheduler(shift=5.0),
            "text_encoder": text_encoder, "tokenizer": tokenizer, "text_encoder_2": text_encoder_2,
            "tokenizer_2": tokenizer_2, "guider": ClassifierFreeGuidance(guidance_scale=6.0)}


def build_hunyuanvideo15_t2v(dest: str) -> str:
    from diffusers import HunyuanVideo15Pipeline

    HunyuanVideo15Pipeline(**_components("t2v")).save_pretrained(dest, safe_serialization=True)
    return dest


def build_hunyuanvideo15_i2v(dest: str) -> str:
    import torch
    from diffusers import HunyuanVideo15ImageToVideoPipeline
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(0)
    image_encoder = SiglipVisionModel(SiglipVisionConfig(
        hidden_size=SIGLIP_HIDDEN, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8)).eval()
    feature_extractor = SiglipImageProcessor(size={"height": 32, "width": 32})
    HunyuanVideo15ImageToVideoPipeline(**_components("i2v"), image_encoder=image_encoder,
                                       feature_extractor=feature_extractor).save_pretrained(
        dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"hunyuanvideo15": "build_hunyuanvideo15_t2v", "hunyuanvideo15_i2v": "build_hunyuanvideo15_i2v"}
