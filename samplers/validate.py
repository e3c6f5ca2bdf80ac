"""Checks every family shares before the pipeline runs, with messages that name node, input and what is valid."""

from __future__ import annotations

import math

from ..errors import DVInputError
from ..model_loaders.components import DVConditioning, DVModel
from .pipeline import SampleParams


def check_frames(model: DVModel, num_frames: int, input_name: str = "num_frames") -> None:
    rule = model.family.frame_rule
    if not rule.is_valid(num_frames):
        nearest = " or ".join(str(n) for n in rule.nearest(num_frames))
        raise DVInputError(
            input_name,
            f"{model.family.label} cannot produce {num_frames} frames.",
            f"{rule.describe()}; nearest: {nearest}.",
        )


def check_size(model: DVModel, width: int, height: int, multiple: int) -> None:
    """`multiple` is what the loaded model needs (VAE factor x patch size); the family's pipeline may demand a
    larger one of its own (Family.pipeline_size_multiple), which its check_inputs would refuse otherwise."""
    needed = math.lcm(multiple, model.family.pipeline_size_multiple)
    if needed == multiple:
        why = f"the {model.family.label} VAE factor {model.geometry.spatial} x the patch size"
    else:
        why = f"the {model.family.label} pipeline takes multiples of {model.family.pipeline_size_multiple} only"
    for name, value in (("width", width), ("height", height)):
        if value < needed:  # 0 and negative sizes are "divisible" too
            raise DVInputError(name, f"{value} pixels is too small.", f"multiples of {needed}, at least {needed}.")
        if value % needed:
            lower = value - value % needed
            raise DVInputError(
                name,
                f"{value} is not divisible by {needed} ({why}).",
                f"multiples of {needed}; nearest: {lower or needed} or {lower + needed}.",
            )


def require_conditioning(model: DVModel, inputs) -> DVConditioning:
    if inputs.conditioning is None:
        raise DVInputError("conditioning", f"{model.family.label} is driven by text, and nothing is wired in.",
                           "the output of DVTextEncode.")
    return inputs.conditioning


def check_conditioning(model: DVModel, cond: DVConditioning, needs_prompt: bool) -> None:
    if cond.family.id != model.family.id:
        raise DVInputError(
            "conditioning",
            f"the conditioning was made by a {cond.family.label} text encoder, but the model is {model.family.label}.",
            f"encode the prompt with the {model.family.label} text encoder.",
        )
    if needs_prompt and not cond.prompt.strip():
        raise DVInputError(
            "conditioning",
            "the prompt given to DVTextEncode is empty; text-to-video needs a description of the video.",
            "a non-empty prompt in DVTextEncode.",
        )


def check_common(model: DVModel, cond: DVConditioning, params: SampleParams, multiple: int,
                 needs_prompt: bool = True) -> None:
    check_conditioning(model, cond, needs_prompt)
    check_frames(model, params.num_frames)
    check_size(model, params.width, params.height, multiple)
    if params.num_inference_steps < 1:
        raise DVInputError("num_inference_steps", f"{params.num_inference_steps} steps.", "1 or more.")


def check_text_width(model: DVModel, cond: DVConditioning, expected: int, encoder: str) -> None:
    """Refuse prompt embeddings of another width than the transformer's text input (another family's or
    release's text encoder), naming the encoder that fits."""
    width = int(cond.embeds["prompt_embeds"].shape[-1])
    if width != int(expected):
        raise DVInputError("conditioning", f"the text embeddings have width {width}, but this transformer "
                           f"expects {expected}.", f"the {encoder} from the same {model.family.label} folder.")


def check_steps_for_terminal_shift(scheduler, steps: int) -> None:
    """A flow-matching scheduler with `shift_terminal` (LTX's) stretches its sigmas so the last one lands there:
    with one step the only sigma is 1.0 and the stretch divides 0 by 0, a NaN timestep that fails in the
    scheduler's step (or reads as NaN latents). Refused here, before any work."""
    terminal = scheduler.create().config.get("shift_terminal")
    if terminal and steps < 2:
        raise DVInputError("num_inference_steps", f"{steps} step: the scheduler's sigmas are stretched to end at "
                           f"shift_terminal={terminal}, which needs at least two of them.",
                           "2 or more steps.")
