"""Video from a Stable Diffusion 1.5 image model, one frame per batch item (Text2Video-Zero and the
diffusers guide's recipes built on it):

- "controlnet": StableDiffusionControlNetPipeline with one control image per frame and the same starting
  latents for every frame;
- "pix2pix": StableDiffusionInstructPix2PixPipeline editing every frame of a video;
- "zero": TextToVideoZeroPipeline (text only; the first frame's latents warped by a motion field).

Frames stay coherent through diffusers' CrossFrameAttnProcessor (each frame attends to the first), which
DVCrossFrameAttention asks for; it is set for the run only and the previous processors are put back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVConditioning, DVModel, DVSchedulerSpec
from ..samplers.image_input import pipeline_frames, resize_mode
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .deprecated import MOVED, moved_class

ZERO_OPTIONS = ("motion_field_strength_x", "motion_field_strength_y", "t0", "t1")
PIX2PIX_OPTIONS = ("image_guidance_scale",)


def mode_for(model: DVModel, inputs: SampleInputs) -> str | None:
    """Which recipe a run of an SD1.5 image model asks for, from what is wired (None: none of them)."""
    if int(model.module.config.in_channels) == 8:
        return "pix2pix"  # the UNet itself says InstructPix2Pix: it also takes the image latents
    if inputs.control is not None:
        return "controlnet"
    if any(name in (inputs.options or {}) for name in ZERO_OPTIONS):
        return "zero"
    return None


@contextlib.contextmanager
def cross_frame_attention(modules: list[Any], batch_size: int) -> Iterator[None]:
    """CrossFrameAttnProcessor on these modules for the duration; their own processors afterwards, so the
    loaded model is unchanged for every other branch and run."""
    CrossFrameAttnProcessor = moved_class("CrossFrameAttnProcessor", "Cross-frame attention")  # noqa: N806

    saved = [(module, module.attn_processors) for module in modules]
    try:
        for module in modules:
            module.set_attn_processor(CrossFrameAttnProcessor(batch_size=batch_size))
        yield
    finally:
        for module, processors in saved:
            module.set_attn_processor(processors)


def _repeat_embeds(cond: DVConditioning, frames: int, device, dtype) -> dict[str, Any]:
    # One prompt for every frame, as the guide's `prompt=[prompt] * len(frames)`.
    return {key: cond.embeds[key].to(device=device, dtype=dtype).repeat(frames, 1, 1)
            for key in ("prompt_embeds", "negative_prompt_embeds")}


def _to_video_latent(latents, model: DVModel) -> dict[str, Any]:
    """[F, C, h, w] frames of an image pipeline -> the pack's LATENT layout [1, C, F, h, w]."""
    samples = latents.permute(1, 0, 2, 3).unsqueeze(0)
    return {"samples": samples.to(host.intermediate_device()), "dv_family": model.family.id,
            "dv_num_frames": int(latents.shape[0])}



def _image_pipeline(cls_name: str, model: DVModel, scheduler: DVSchedulerSpec, **components: Any):
    import diffusers
    from diffusers.image_processor import VaeImageProcessor

    cls = moved_class(cls_name, "Text2Video-Zero") if cls_name in MOVED else getattr(diffusers, cls_name)
    pipe = assemble(cls, unet=model.module, scheduler=scheduler.create(),
                    requires_safety_checker=False, **components)
    # Geometry the pipeline would read from a VAE that sampling does not need.
    pipe.vae_scale_factor = model.geometry.spatial
    if hasattr(pipe, "control_image_processor"):
        pipe.control_image_processor = VaeImageProcessor(vae_scale_factor=model.geometry.spatial,
                                                         do_convert_rgb=True, do_normalize=False)
    return pipe


def _check_options_apply(mode: str, inputs: SampleInputs) -> None:
    """Options of another recipe than the one this run takes would silently do nothing: refuse them."""
    options = inputs.options or {}
    for names, recipe, node in ((ZERO_OPTIONS, "zero", "DVText2VideoZeroOptions"),
                                (PIX2PIX_OPTIONS, "pix2pix", "DVInstructPix2PixOptions")):
        if mode != recipe and any(name in options for name in names):
            why = {"controlnet": "a ControlNet run (control is wired)", "pix2pix": "an InstructPix2Pix edit (the "
                   "model is InstructPix2Pix)", "zero": "a Text2Video-Zero run"}[mode]
            raise DVInputError("options", f"{node}'s settings do not apply to {why}, so they would be ignored.",
                               f"remove {node} from the options chain, or make the run a "
                               f"{'Text2Video-Zero' if recipe == 'zero' else 'InstructPix2Pix'} one.")


def sample(mode: str, model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial)
    _check_options_apply(mode, inputs)
    return {"controlnet": _controlnet, "pix2pix": _pix2pix, "zero": _zero}[mode](
        model, scheduler, params, inputs, cond)


def _controlnet(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
                inputs: SampleInputs, cond: DVConditioning) -> dict[str, Any]:
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    control = inputs.control
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, "ControlNet video takes its frames from the control input.",
                               f"disconnect '{name}'; wire the control frames into DVApplyControlNet.")
    count = int(control.frames.shape[0])
    if count != params.num_frames:
        raise DVInputError("num_frames", f"the control has {count} frames, but num_frames is "
                           f"{params.num_frames}.", f"num_frames {count}, or {params.num_frames} control frames.")
    if model.cross_frame != control.cross_frame:
        raise DVInputError("control", "cross-frame attention is on for only one of the UNet and the "
                           "ControlNet.", "pass both through the same DVCrossFrameAttention node.")
    host.load_to_device([model.managed, control.controlnet.managed])
    pipe = _image_pipeline("StableDiffusionControlNetPipeline", model, scheduler,
                           controlnet=control.controlnet.module)
    dtype, device = model.managed.dtype, model.managed.device
    # The guide's recipe: one starting latent for all frames, so only the control makes them differ.
    shape = (1, int(model.module.config.in_channels), params.height // model.geometry.spatial,
             params.width // model.geometry.spatial)
    first = randn_tensor(shape, generator=torch.Generator("cpu").manual_seed(params.seed), dtype=torch.float32)
    call_kwargs = {
        **_repeat_embeds(cond, params.num_frames, device, dtype),
        # The guide's control frames: a list of PIL images, which the pipeline resizes with Lanczos.
        "image": pipeline_frames("control", control.frames, params.height, params.width, inputs.options,
                                 same_aspect=True),
        "latents": first.repeat(params.num_frames, 1, 1, 1).to(device=device, dtype=dtype),
        "controlnet_conditioning_scale": float(control.strength),
        "height": params.height, "width": params.width,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    batch = 2 if params.guidance_scale > 1.0 else 1  # classifier-free guidance doubles the batch
    modules = [model.module, control.controlnet.module] if model.cross_frame else []
    with cross_frame_attention(modules, batch):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, _preview_layout,
                              output_attr="images")
    return _to_video_latent(latents, model)


def _pix2pix(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
             inputs: SampleInputs, cond: DVConditioning) -> dict[str, Any]:
    video = inputs.video
    if video is None:
        raise DVInputError("video", "InstructPix2Pix edits a video, and none is wired in.",
                           "the frames to edit (e.g. from DVLoadVideo) into 'video'.")
    if inputs.control is not None:
        raise DVInputError("control", "InstructPix2Pix takes no ControlNet.", "disconnect 'control'.")
    if inputs.vae is None:
        raise DVInputError("vae", "InstructPix2Pix encodes the input frames with the VAE.",
                           "the VAE from the same DVPipelineLoader.")
    count, height, width = (int(n) for n in video.shape[:3])
    if count != params.num_frames:
        raise DVInputError("num_frames", f"the video has {count} frames, but num_frames is "
                           f"{params.num_frames}.", f"num_frames {count}, or a video of {params.num_frames} frames.")
    if (width, height) != (params.width, params.height) and resize_mode(inputs.options) == "default":
        raise DVInputError("video", f"the video is {width}x{height}, but width x height is "
                           f"{params.width}x{params.height} (InstructPix2Pix keeps the input's size).",
                           f"width {width} and height {height}, or resize the video (DVLoadVideo's resize).")
    image_guidance = float((inputs.options or {}).get("image_guidance_scale", 1.5))
    host.load_to_device([model.managed, inputs.vae.managed])
    pipe = _image_pipeline("StableDiffusionInstructPix2PixPipeline", model, scheduler, vae=inputs.vae.module)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        **_repeat_embeds(cond, params.num_frames, device, dtype),
        # The guide's frames: a list of PIL images at the size the edit keeps.
        "image": pipeline_frames("video", video, params.height, params.width, inputs.options),
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "image_guidance_scale": image_guidance,
    }
    # The pipeline guides with three batches (text+image, image only, neither) when both scales ask for it.
    batch = 3 if params.guidance_scale > 1.0 and image_guidance >= 1.0 else 1
    with cross_frame_attention([model.module] if model.cross_frame else [], batch):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, _preview_layout,
                              output_attr="images")
    return _to_video_latent(latents, model)


def _zero(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
          inputs: SampleInputs, cond: DVConditioning) -> dict[str, Any]:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, "Text2Video-Zero makes video from text alone.", f"disconnect '{name}'.")
    options = inputs.options or {}
    t0, t1 = int(options.get("t0", 44)), int(options.get("t1", 47))
    if not 0 <= t0 < t1 < params.num_inference_steps - 1:
        raise DVInputError("options", f"t0={t0} and t1={t1} do not fit {params.num_inference_steps} steps.",
                           "0 <= t0 < t1 < num_inference_steps - 1 (the defaults 44 and 47 are for 50 steps).")
    if params.guidance_scale <= 1.0:
        # TextToVideoZeroPipeline always concatenates the negative embeddings (diffusers 0.42).
        raise DVInputError("guidance_scale", "Text2Video-Zero runs with classifier-free guidance only.",
                           "a guidance_scale above 1 (7.5 in the guide).")
    if params.num_frames < 2:
        raise DVInputError("num_frames", "Text2Video-Zero warps the first frame into the others.",
                           "2 frames or more (8 in the guide).")
    host.load_to_device([model.managed])
    pipe = _image_pipeline("TextToVideoZeroPipeline", model, scheduler)
    dtype, device = model.managed.dtype, model.managed.device
    embeds = {key: cond.embeds[key].to(device=device, dtype=dtype)
              for key in ("prompt_embeds", "negative_prompt_embeds")}
    # The pipeline takes only prompt strings; hand it the embeddings DVTextEncode made instead.
    pipe.encode_prompt = lambda *args, **kwargs: (embeds["prompt_embeds"], embeds["negative_prompt_embeds"])
    call_kwargs = {
        "prompt": cond.prompt, "video_length": params.num_frames, "height": params.height, "width": params.width,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "motion_field_strength_x": float(options.get("motion_field_strength_x", 12.0)),
        "motion_field_strength_y": float(options.get("motion_field_strength_y", 12.0)),
        "t0": t0, "t1": t1,
    }
    # The pipeline sets cross-frame attention itself but restores the UNet's processors only after a run
    # that completes: put them back here whatever happens (a cancel or an OOM mid-run), so the cached model
    # does not keep cross-frame attention for every later run.
    saved = model.module.attn_processors
    try:
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, _preview_layout,
                              legacy_callback=True, output_attr="images")
    finally:
        model.module.set_attn_processor(saved)
    return _to_video_latent(latents, model)


def _preview_layout(latents):
    # Frames are the batch here; previews show the first.
    return latents[:1]
