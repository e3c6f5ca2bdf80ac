"""Wan2.2-Animate: a character image (DVSampler's 'image') moved by a pose video and a face video, in two modes:
"animate" (the character alone, on the image's own background) and "replace" (the character put in place of the
person of a background video, where a mask video is white). A variant of the Wan family (its DiT is
WanAnimateTransformer3DModel), run by diffusers' WanAnimatePipeline; the pose, face, background and mask videos
come through DVWanOptions, made by the user's own nodes (this pack ships no pose or face detector).

The pipeline makes the video in segments of segment_frame_length frames, each started from the last decoded frames
of the one before, so it decodes every segment inside its loop. The LATENT keeps each segment's latents side by
side (SEGMENT_KEY says how many latent frames each has), and DVVAEDecode decodes them one segment at a time, drops
the frames a segment repeats from the one before and cuts the padding, as the pipeline does before it returns."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import host
from ..errors import DVInputError
from .spec import FrameRule, OptionSpec, Variant

MODES = ("animate", "replace")
SEGMENT_DEFAULT = 77  # the pipeline's and the model card's segment_frame_length
PREV_FRAMES = (1, 5)  # prev_segment_conditioning_frames the pipeline takes
SEGMENT_KEY = "dv_segment_latent_frames"  # LATENT: latent frames per segment (absent outside Wan-Animate)
OVERLAP_KEY = "dv_segment_overlap"  # LATENT: frames each later segment repeats from the one before
VIDEO_WIRES = ("pose_video", "face_video", "background_video", "mask_video")


def is_animate_config(configs: Mapping[str, Any]) -> bool:
    return configs.get("denoiser", {}).get("motion_encoder_size") is not None


VARIANT = Variant("wan2.2-animate", is_animate_config, {
    "label": "Wan2.2 Animate",
    # The pipeline pads the pose video to whole segments and cuts the output back to its length, so any count
    # works; one frame more than the frames a segment carries over is the least it can continue from.
    "frame_rule": FrameRule(multiple=1, offset=0, minimum=2),
    # The diffusers docs' example: 1280x720, 20 steps, no guidance, segments of 77, written at 30 fps.
    "defaults": {"num_frames": 77, "fps": 30, "steps": 20, "guidance_scale": 1.0, "width": 1280, "height": 720,
                 "max_sequence_length": 512}})

OPTIONS = (
    OptionSpec("pose_video", "IMAGE", None, "Wan-Animate only: the body pose video (rendered skeletons), one frame "
               "per output frame (num_frames of them), made with other nodes; fitted to the video's size."),
    OptionSpec("face_video", "IMAGE", None, "Wan-Animate only: square face crops that drive the expression, one "
               "per output frame; resized to the model's motion_encoder_size (512x512 for the released model)."),
    OptionSpec("background_video", "IMAGE", None, "Wan-Animate replace mode: the video whose person the character "
               "replaces, one frame per output frame."),
    OptionSpec("mask_video", "MASK", None, "Wan-Animate replace mode: where the character goes (white, 1) and "
               "where background_video is kept (black, 0); one mask for every frame, or one per frame, the size of "
               "background_video."),
    OptionSpec("mode", MODES, "animate", "Wan-Animate only: animate the character of DVSampler's 'image' with the "
               "pose and face videos, or replace the person of background_video with it (needs background_video and "
               "mask_video).", optional=True),
    OptionSpec("segment_frame_length", "INT", SEGMENT_DEFAULT, "Wan-Animate only: frames made per segment (4k+1); "
               "longer videos are made segment after segment, each continuing from the end of the one before.",
               5, 1025, 1, optional=True),
    OptionSpec("prev_segment_conditioning_frames", "INT", 1, "Wan-Animate only: frames of a segment's end the next "
               "segment continues from: 1 or 5.", 1, 5, 1, optional=True),
    OptionSpec("motion_encode_batch_size", "INT", 0, "Wan-Animate only: face frames the motion encoder takes at "
               "once (fewer use less memory); 0 = the model's own (8).", 0, 1024, 1, optional=True),
)
WIDGET_DEFAULTS = {spec.name: spec.default for spec in OPTIONS if not spec.is_wire}


def is_animate(model: Any) -> bool:
    """A Wan-Animate DiT (WanAnimateTransformer3DModel): a motion encoder for face frames, pose latents added."""
    return getattr(model.module.config, "motion_encoder_size", None) is not None


def _wired(inputs: Any, name: str) -> Any:
    return (inputs.options or {}).get(name)


def refuse_on_other_models(model: Any, inputs: Any) -> None:
    """Wan-Animate's options set for another Wan model would silently do nothing."""
    label = model.family.label
    for name in VIDEO_WIRES:
        if _wired(inputs, name) is not None:
            raise DVInputError(name, f"DVWanOptions' {name} conditions a Wan-Animate model, and '{model.source}' is "
                               f"a {label} model.", f"a Wan2.2-Animate model, or disconnect '{name}'.")
    for name, default in WIDGET_DEFAULTS.items():
        value = inputs.option(name, default)
        if value != default:
            raise DVInputError("options", f"the options set the Wan-Animate {name} {value!r}, but '{model.source}' "
                               f"is a {label} model.", f"{name} back at {default!r}, or a Wan2.2-Animate model.")


def _segments(num_frames: int, segment: int, prev: int) -> int:
    """How many segments the pipeline runs for num_frames (its own arithmetic: whole segments, padded)."""
    effective = segment - prev
    remainder = (num_frames - prev) % effective
    return (num_frames + (effective - remainder if remainder else 0)) // effective


def _check(model: Any, params: Any, inputs: Any) -> dict[str, Any]:
    """Validate the wires and settings of a Wan-Animate run before any work; the run's settings."""
    label = model.family.label
    mode = str(inputs.option("mode", "animate"))
    if mode not in MODES:
        raise DVInputError("options", f"mode '{mode}'.", " or ".join(MODES) + " on DVWanOptions.")
    if inputs.image is None:
        raise DVInputError("image", f"{label} animates a character image, and none is wired in.",
                           "the character's picture (an IMAGE) into 'image'.")
    if inputs.video is not None:
        raise DVInputError("video", f"{label} takes its videos through DVWanOptions (pose_video, face_video, and "
                           "for replace mode background_video and mask_video), not DVSampler's 'video'.",
                           "the pose video into DVWanOptions' pose_video, or disconnect 'video'.")
    if _wired(inputs, "last_image") is not None:
        raise DVInputError("last_image", f"{label} takes no last frame.", "disconnect 'last_image'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} encodes the character, pose and background frames with the VAE, and "
                           "none is wired in.", "the VAE from the same folder.")
    for role in ("image_encoder", "image_processor"):
        if role not in model.companions:
            raise DVInputError("model", f"this Wan-Animate model came without its {role} (the character's CLIP "
                               "features).", "load it with DVPipelineLoader from its diffusers folder.")
    frames = params.num_frames
    for name in ("pose_video", "face_video"):
        if _wired(inputs, name) is None:
            raise DVInputError(name, f"{label} moves the character with a pose video and a face video, and "
                               f"DVWanOptions' {name} is not wired in.", f"{frames} frames (one per output frame) "
                               f"into DVWanOptions' {name}, made with a pose/face preprocessor of your choice.")
    replacing = ("background_video", "mask_video")
    if mode == "replace":
        for name in replacing:
            if _wired(inputs, name) is None:
                raise DVInputError(name, f"mode 'replace' puts the character into a background video where a mask "
                                   f"video is white, and DVWanOptions' {name} is not wired in.",
                                   f"{frames} frames into DVWanOptions' {name}, or mode 'animate'.")
    else:
        for name in replacing:
            if _wired(inputs, name) is not None:
                raise DVInputError(name, f"{name} belongs to mode 'replace', and the mode is '{mode}'.",
                                   f"mode 'replace' on DVWanOptions, or disconnect '{name}'.")
    for name in ("pose_video", "face_video", "background_video"):
        video = _wired(inputs, name)
        if video is not None and int(video.shape[0]) != frames:
            raise DVInputError(name, f"{int(video.shape[0])} frames wired in, but num_frames is {frames}; "
                               f"{label} takes one {name.split('_')[0]} frame per output frame.",
                               f"exactly {frames} frames (or num_frames {int(video.shape[0])}).")
    face = _wired(inputs, "face_video")
    face_h, face_w = int(face.shape[1]), int(face.shape[2])
    size = int(model.module.config.motion_encoder_size)
    if abs(face_w / face_h - 1.0) > 0.01:
        raise DVInputError("face_video", f"the face frames are {face_w}x{face_h}; the motion encoder takes square "
                           f"faces of {size}x{size}, and stretching would distort the expression.",
                           f"square face crops (ideally {size}x{size}).")
    mask, background = _wired(inputs, "mask_video"), _wired(inputs, "background_video")
    if mask is not None:
        mask_frames = 1 if mask.ndim == 2 else int(mask.shape[0])
        mask_size = (int(mask.shape[-1]), int(mask.shape[-2]))
        back_size = (int(background.shape[2]), int(background.shape[1]))
        if mask_frames not in (1, frames):
            raise DVInputError("mask_video", f"the mask has {mask_frames} frames, the video {frames}.",
                               f"one mask for every frame, or {frames} masks (one per frame).")
        if mask_size != back_size:
            raise DVInputError("mask_video", f"the mask is {mask_size[0]}x{mask_size[1]}, background_video's frames "
                               f"{back_size[0]}x{back_size[1]}.", f"a mask of {back_size[0]}x{back_size[1]}.")
    segment = int(inputs.option("segment_frame_length", SEGMENT_DEFAULT))
    prev = int(inputs.option("prev_segment_conditioning_frames", 1))
    if prev not in PREV_FRAMES:
        raise DVInputError("options", f"prev_segment_conditioning_frames {prev}.",
                           " or ".join(map(str, PREV_FRAMES)) + " (what WanAnimatePipeline takes).")
    # The pipeline counts its segments as if each added segment_frame_length - prev frames after the first
    # segment's too; it runs past the video (and fails an assertion) unless a segment adds more than it carries over.
    least = 2 * prev + 1 + (1 - (2 * prev + 1)) % 4
    if segment % 4 != 1 or segment < least:
        below = max(segment - (segment - 1) % 4, least)
        nearest = f"{below} or {below + 4}" if segment > least else str(least)
        raise DVInputError("options", f"segment_frame_length {segment}: segments are 4k+1 frames, and each must add "
                           f"more frames than the {prev} it carries over from the segment before.",
                           f"4k+1, at least {least} with prev_segment_conditioning_frames {prev}, on DVWanOptions; "
                           f"nearest: {nearest}.")
    if frames <= prev:
        raise DVInputError("num_frames", f"{frames} frames, and each segment continues from {prev} of the one "
                           "before.", f"num_frames above {prev}, or prev_segment_conditioning_frames 1.")
    batch = int(inputs.option("motion_encode_batch_size", 0))
    return {"mode": mode, "segment": segment, "prev": prev, "segments": _segments(frames, segment, prev),
            "motion_encode_batch_size": batch or None}


@contextlib.contextmanager
def _collecting_segments(scheduler: Any, found: list[Any]) -> Iterator[None]:
    """Keep each segment's final latents: the scheduler's output at the last timestep of each of its passes.

    The pipeline decodes every segment inside its loop and returns (as latents) the last one alone, already
    de-normalised; the step output is the latents it decodes, before that."""
    original = scheduler.step
    taken = [0]

    def step(*args, **kwargs):
        out = original(*args, **kwargs)
        taken[0] += 1
        if taken[0] == len(scheduler.timesteps):  # the pipeline steps once per timestep, then starts over
            taken[0] = 0
            found.append((out[0] if isinstance(out, tuple) else out.prev_sample).detach())
        return out

    scheduler.step = step
    try:
        yield
    finally:
        vars(scheduler).pop("step", None)


def sample(model: Any, scheduler: Any, params: Any, inputs: Any, text_tokens: int) -> dict[str, Any]:
    """Called by wan.sample after the checks every Wan run shares; text_tokens: the prompt length the image
    cross-attention splits at (Wan's I2V_TEXT_TOKENS)."""
    import torch
    from diffusers import WanAnimatePipeline

    from ..samplers.image_input import mask_to_pil, pipeline_frames, pipeline_image, resize_mode, resized
    from ..samplers.pipeline import assemble, denoisers_loaded, run_denoise
    from ..samplers.validate import check_common, check_text_width, require_conditioning

    run = _check(model, params, inputs)
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size[1]))
    check_text_width(model, cond, int(model.module.config.text_dim), "UMT5 text encoder")
    tokens = int(cond.embeds["prompt_embeds"].shape[1])
    if model.module.config.added_kv_proj_dim is not None and tokens != text_tokens:
        raise DVInputError("conditioning", f"the prompt was encoded to {tokens} tokens; {model.family.label} tells "
                           f"text from image tokens by position and needs exactly {text_tokens}.",
                           f"max_sequence_length {text_tokens} on DVTextEncode.")
    height, width, options = params.height, params.width, inputs.options
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": height, "width": width, "num_inference_steps": params.num_inference_steps,
        "guidance_scale": params.guidance_scale, "mode": run["mode"],
        "segment_frame_length": run["segment"], "prev_segment_conditioning_frames": run["prev"],
        "motion_encode_batch_size": run["motion_encode_batch_size"],
        "image": pipeline_image("image", inputs.image, height, width, options),
        "pose_video": pipeline_frames("pose_video", _wired(inputs, "pose_video"), height, width, options,
                                      same_aspect=True),
        # The face frames go to the motion encoder at its own square size, whatever the video's.
        "face_video": pipeline_frames("face_video", _wired(inputs, "face_video"), height, width, None),
    }
    if run["mode"] == "replace":
        call_kwargs["background_video"] = pipeline_frames("background_video", _wired(inputs, "background_video"),
                                                          height, width, options, same_aspect=True)
        mask = _wired(inputs, "mask_video")
        masks = [mask_to_pil(frame) for frame in (mask if mask.ndim == 3 else mask[None])]
        masks = masks * (params.num_frames if len(masks) == 1 else 1)
        call_kwargs["mask_video"] = [m.convert("L") for m in resized(masks, height, width, resize_mode(options))]
    pipe = assemble(WanAnimatePipeline, model.pipeline_config, vae=inputs.vae.module, scheduler=scheduler.create(),
                    image_processor=model.companions["image_processor"],
                    image_encoder=model.companions["image_encoder"].module, transformer=model.module)
    segments: list[Any] = []
    with denoisers_loaded(model, inputs.vae.managed, *model.managed_companions()), \
            _collecting_segments(pipe.scheduler, segments):
        # The first latent frame is the character's; the preview shows the segment's video frames.
        run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x[:, :, 1:],
                    total_steps=params.num_inference_steps * run["segments"])
    if len(segments) != run["segments"]:
        raise RuntimeError(f"Wan-Animate ran {len(segments)} segments where {run['segments']} were planned.")
    latents = torch.cat([segment[:, :, 1:] for segment in segments], dim=2)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": model.family.id,
            "dv_num_frames": params.num_frames, SEGMENT_KEY: int(segments[0].shape[2]) - 1,
            OVERLAP_KEY: run["prev"]}


def decode_segments(vae: Any, latent: dict[str, Any], settings: Any,
                    decode_one: Callable[[Any, dict[str, Any], Any], Any]):
    """Each segment decoded on its own (the causal VAE must not carry one segment into the next), the frames a
    later segment repeats from the one before dropped, the padding past num_frames cut: WanAnimatePipeline's
    output. `decode_one`: the Wan decode of plain latents."""
    import torch

    samples = latent["samples"]
    per = int(latent[SEGMENT_KEY])
    overlap = int(latent.get(OVERLAP_KEY, 0))
    plain = {key: value for key, value in latent.items() if key not in (SEGMENT_KEY, OVERLAP_KEY)}
    frames = []
    for index, chunk in enumerate(samples.split(per, dim=2)):
        decoded = decode_one(vae, {**plain, "samples": chunk}, settings)
        frames.append(decoded if index == 0 else decoded[overlap:])
    video = torch.cat(frames)
    count = latent.get("dv_num_frames")
    return video[:int(count)] if count else video
