"""Prompt encoding for the families with Stable Diffusion's CLIP text encoder (ModelScope, AnimateDiff,
I2VGen-XL, Text2Video-Zero), through the pipeline's own encode_prompt."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .. import host
from ..errors import DVInputError
from ..families.spec import Family
from ..model_loaders.components import DVConditioning, DVTextEncoder

log = logging.getLogger("DiffusersVideo")


def check_length(tokenizer, texts: dict[str, str], limit: int, truncate: bool) -> list[str]:
    """State (or refuse) prompts longer than the tokenizer's limit instead of cutting them silently."""
    notes = []
    for input_name, text in texts.items():
        n_tokens = len(tokenizer(text, add_special_tokens=True).input_ids)
        if n_tokens > limit:
            if not truncate:
                raise DVInputError(input_name, f"{n_tokens} tokens, over the text encoder's {limit}.",
                                   f"at most {limit} tokens, or turn truncate_long_prompt on.")
            message = f"DVTextEncode: input '{input_name}': {n_tokens} tokens, over {limit}; the end is cut off."
            log.warning(message)
            notes.append(message)
    return notes


def encode_with_pipeline(family: Family, make_pipeline: Callable, te: DVTextEncoder, prompt: str,
                         negative_prompt: str, truncate: bool) -> DVConditioning:
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         te.tokenizer.model_max_length, truncate)
    host.load_to_device([te.managed])
    pipe = make_pipeline(tokenizer=te.tokenizer, text_encoder=te.module)
    # clip_skip=None: transformers 5 removed CLIPTextModel.text_model, which the clip_skip path reaches.
    positive, negative = pipe.encode_prompt(prompt, te.managed.device, 1, True, negative_prompt, clip_skip=None)
    return DVConditioning(family, prompt, negative_prompt,
                          {"prompt_embeds": positive, "negative_prompt_embeds": negative}, notes)


T5_EMBED_KEYS = ("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask")


def encode_t5_with_pipeline(family: Family, make_pipeline: Callable, te: DVTextEncoder, prompt: str,
                            negative_prompt: str, max_sequence_length: int, truncate: bool,
                            keys: tuple[str, ...]) -> DVConditioning:
    """The T5/UMT5 families' prompt encoding (Wan, Mochi, LTX-Video) through the pipeline's own
    encode_prompt, whose outputs are named by `keys` in order (with or without attention masks)."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         max_sequence_length, truncate)
    host.load_to_device([te.managed])
    pipe = make_pipeline(tokenizer=te.tokenizer, text_encoder=te.module)
    outputs = pipe.encode_prompt(prompt, negative_prompt, do_classifier_free_guidance=True,
                                 max_sequence_length=max_sequence_length, device=te.managed.device)
    return DVConditioning(family, prompt, negative_prompt, dict(zip(keys, outputs, strict=True)), notes)
