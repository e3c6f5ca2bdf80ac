"""AnimateDiff: a motion adapter that turns a Stable Diffusion 1.5 (or SDXL) UNet into a video model.

AnimateDiff glue: which of diffusers' AnimateDiff pipelines a run takes follows from what is wired into DVSampler:
text-to-video (AnimateDiffPipeline), a ControlNet in 'control' (AnimateDiffControlNetPipeline), a SparseCtrl
ControlNet (AnimateDiffSparseControlNetPipeline), a video in 'video' (AnimateDiffVideoToVideoPipeline, or
AnimateDiffVideoToVideoControlNetPipeline with a control too), and an SDXL model (AnimateDiffSDXLPipeline).
FreeNoise and FreeInit come from DVAnimateDiffOptions, where the pipeline has them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVControl, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import check_length, encode_with_pipeline
from ..samplers.image_input import pipeline_frames
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

STRENGTH_DEFAULT = 0.8  # AnimateDiffVideoToVideoPipeline's own default
FREE_NOISE_WEIGHTINGS = ("pyramid", "flat", "delayed_reverse_sawtooth")
FREE_NOISE_NOISE_TYPES = ("shuffle_context", "repeat_context", "random")
FREE_INIT_METHODS = ("butterworth", "ideal", "gaussian")

OPTIONS = (
    OptionSpec("strength", "FLOAT", STRENGTH_DEFAULT, "Video-to-video only (a video wired into DVSampler): how much "
               "of the input video is repainted; 1 ignores it, lower keeps more of it.", 0.0, 1.0, 0.01),
    OptionSpec("controlnet_frame_indices", "STRING", "", "SparseCtrl only: the frame each control image conditions, "
               "comma-separated (e.g. 0, 8, 15), one per control image; empty: frames 0, 1, 2, ... in order."),
    OptionSpec("context_length", "INT", 0, "FreeNoise (enable_free_noise): frames the motion module sees at once, "
               "so a video can be longer than the adapter's positions; 0 turns FreeNoise off (16 is usual).", 0, 64, 1),
    OptionSpec("context_stride", "INT", 4, "FreeNoise: frames between the starts of two context windows.", 1, 64, 1),
    OptionSpec("weighting_scheme", FREE_NOISE_WEIGHTINGS, "pyramid", "FreeNoise: how overlapping windows are "
               "averaged."),
    OptionSpec("noise_type", FREE_NOISE_NOISE_TYPES, "shuffle_context", "FreeNoise: how the starting noise of a long "
               "video is made from one window's noise."),
    OptionSpec("free_init_iterations", "INT", 0, "FreeInit (enable_free_init): re-runs of the whole denoising with "
               "the low frequencies of the last result, for steadier motion; 0 turns it off (3 is usual; each "
               "one costs a full run).", 0, 10, 1),
    OptionSpec("free_init_method", FREE_INIT_METHODS, "butterworth", "FreeInit: the low-pass filter."),
    OptionSpec("free_init_use_fast_sampling", "BOOLEAN", False, "FreeInit: fewer steps in the early re-runs "
               "(faster, coarser)."),
    OptionSpec("free_init_order", "INT", 4, "FreeInit: the butterworth filter's order.", 1, 16, 1),
    OptionSpec("free_init_spatial_stop_frequency", "FLOAT", 0.25, "FreeInit: the filter's spatial cut-off.",
               0.0, 1.0, 0.01),
    OptionSpec("free_init_temporal_stop_frequency", "FLOAT", 0.25, "FreeInit: the filter's temporal cut-off.",
               0.0, 1.0, 0.01),
)
OPTION_NAMES = tuple(spec.name for spec in OPTIONS)


def _is_sdxl_config(configs) -> bool:
    """An SDXL UNet: it takes SDXL's pooled text and size conditioning (addition_embed_type "text_time")."""
    return (configs.get("denoiser") or {}).get("addition_embed_type") == "text_time"


FAMILY = Family(
    id="animatediff",
    label="AnimateDiff",
    # A plain SD1.5 folder is detected as this family too: it becomes a video model once a motion adapter
    # is applied (DVApplyMotionAdapter), or makes video frame by frame with cross-frame attention
    # (Text2Video-Zero: a ControlNet, InstructPix2Pix, or the motion-field text-to-video pipeline).
    pipeline_classes={"t2v": "AnimateDiffPipeline", "sd15": "StableDiffusionPipeline",
                      "controlnet": "StableDiffusionControlNetPipeline",
                      "pix2pix": "StableDiffusionInstructPix2PixPipeline", "t2v_zero": "TextToVideoZeroPipeline",
                      # An SDXL folder becomes AnimateDiff SDXL once an SDXL motion adapter is applied.
                      "sdxl": "StableDiffusionXLPipeline"},
    model_classes=("UNetMotionModel", "UNet2DConditionModel"),
    vae_classes=("AutoencoderKL",),
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    order=60,
    takes_control=True,
    comfy_latent_format="SD15",
    defaults={"num_frames": 16, "fps": 8, "steps": 50, "guidance_scale": 7.5, "width": 512, "height": 512},
    # Every component in fp16 (motion adapter, ControlNet and SD1.5 checkpoint too), as diffusers' AnimateDiff
    # guide (api/pipelines/animatediff.md) loads them: `MotionAdapter.from_pretrained("guoyww/animatediff-motion-
    # adapter-v1-5-2", dtype=torch.float16)`, `AnimateDiffPipeline.from_pretrained(model_id, motion_adapter=adapter,
    # dtype=torch.float16)`; its Text2Video-Zero and ControlNet recipes likewise (`torch_dtype=torch.float16`).
    component_dtypes={"*": "fp16"},
    options=OPTIONS,
    options_node="DVAnimateDiffOptions",
    variants=(Variant("sdxl", _is_sdxl_config, {
        "label": "AnimateDiff SDXL",
        "comfy_latent_format": "SDXL",
        "geometry": LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.13025),
        # The AnimateDiff SDXL guide's call: 1024x1024, 16 frames, 20 steps, guidance_scale 8.
        "defaults": {"num_frames": 16, "fps": 8, "steps": 20, "guidance_scale": 8.0, "width": 1024, "height": 1024},
        # SDXL's VAE overflows in fp16 (its config says force_upcast; the pipeline decodes it in fp32).
        "component_dtypes": {"*": "fp16", "vae": "fp32"},
    }),),
)

# The diffusers guide's scheduler for AnimateDiff: DDIM on SD1.5's betas, linear schedule, linspace steps.
GUIDE_SCHEDULER_SETTINGS = {"clip_sample": False, "timestep_spacing": "linspace", "beta_schedule": "linear",
                            "steps_offset": 1}
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "DDIMScheduler",
    {"beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000, "set_alpha_to_one": False,
     **GUIDE_SCHEDULER_SETTINGS},
    "AnimateDiff guide default",
)
DECODE_CHUNK = 16  # AnimateDiffPipeline's own decode_chunk_size


def guide_scheduler(base: DVSchedulerSpec | None) -> DVSchedulerSpec:
    """DDIM with the guide's settings on top of the SD model's own scheduler config."""
    if base is None:
        return DEFAULT_SCHEDULER
    config = {**base.config_dict(), **GUIDE_SCHEDULER_SETTINGS}
    return DVSchedulerSpec.from_config_dict("DDIMScheduler", config, f"{base.source} (AnimateDiff DDIM)")


def is_sdxl(model: DVModel) -> bool:
    return _is_sdxl_config({"denoiser": dict(model.module.config)})


def _adapter_base(adapter) -> str:
    # SDXL adapters have no motion mid block (animatediff-motion-adapter-sdxl-beta); SD1.5 ones do.
    return "SD1.5" if adapter.config.get("use_motion_mid_block", True) else "SDXL"


def apply_motion_adapter(model: DVModel, adapter) -> DVModel:
    """An SD1.5 or SDXL UNet plus a motion adapter of its base -> the UNetMotionModel the AnimateDiff (SDXL)
    pipeline would build."""
    from diffusers import UNet2DConditionModel, UNetMotionModel

    unet = model.module
    if isinstance(unet, UNetMotionModel):
        raise DVInputError("model", "this model already has a motion adapter.", "an SD1.5 or SDXL model.")
    if not isinstance(unet, UNet2DConditionModel) or model.family.id != FAMILY.id:
        raise DVInputError("model", f"'{model.source}' is a {model.family.label} model; a motion adapter "
                           "goes on a Stable Diffusion 1.5 or SDXL UNet.",
                           "an SD1.5 or SDXL diffusers folder from DVPipelineLoader.")
    base, adapter_base = ("SDXL" if is_sdxl(model) else "SD1.5"), _adapter_base(adapter)
    examples = {"SD1.5": "animatediff-motion-adapter-v1-5-2", "SDXL": "animatediff-motion-adapter-sdxl-beta"}
    if base != adapter_base:
        raise DVInputError("motion_adapter", f"this is an {adapter_base} motion adapter, but '{model.source}' is an "
                           f"{base} model.", f"an {base} motion adapter (e.g. {examples[base]}), or an "
                           f"{adapter_base} model.")
    adapter_blocks = tuple(adapter.config.block_out_channels)
    if tuple(unet.config.block_out_channels) != adapter_blocks:
        raise DVInputError("motion_adapter", f"the adapter is for UNets with blocks {adapter_blocks}, this "
                           f"UNet has {tuple(unet.config.block_out_channels)}.",
                           f"an {base} motion adapter (e.g. {examples[base]}).")
    motion_unet = UNetMotionModel.from_unet2d(unet, adapter).to(dtype=model.managed.dtype).eval()
    if getattr(unet, "add_embedding", None) is not None:
        # from_unet2d (diffusers 0.42) leaves SDXL's text-time embedding at its random initialisation: the
        # trained one is the image UNet's.
        motion_unet.add_embedding.load_state_dict(unet.add_embedding.state_dict())
    # Everything wired onto the image model before (LoRAs: the UNet layers keep their names; offload,
    # compile) carries over to the motion model; so does its variant (SDXL).
    return replace(model, managed=host.ManagedModule(motion_unet, f"{model.source}+motion"), family=model.family,
                   scheduler=guide_scheduler(model.scheduler), companions=dict(model.companions))


def _pipeline(**components: Any):
    from diffusers import AnimateDiffPipeline

    return assemble(AnimateDiffPipeline, **components)


def _sdxl_pipeline(**components: Any):
    from diffusers import AnimateDiffSDXLPipeline

    return assemble(AnimateDiffSDXLPipeline, **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    if "text_encoder_2" in te.extras:
        return _encode_sdxl(te, prompt, negative_prompt, truncate)
    return encode_with_pipeline(te.family, _pipeline, te, prompt, negative_prompt, truncate)


SDXL_EMBED_KEYS = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")


def _encode_sdxl(te: DVTextEncoder, prompt: str, negative_prompt: str, truncate: bool) -> DVConditioning:
    """SDXL's two CLIP encoders through AnimateDiffSDXLPipeline.encode_prompt: per-token embeddings of both,
    concatenated, and the second one's pooled embedding."""
    tokenizer_2, encoder_2 = te.extras.get("tokenizer_2"), te.extras["text_encoder_2"]
    if te.tokenizer is None or tokenizer_2 is None:
        raise DVInputError("text_encoder", "this SDXL text encoder came without its two tokenizers.",
                           "load it from an SDXL diffusers folder with tokenizer and tokenizer_2 subfolders.")
    texts = {"prompt": prompt, "negative_prompt": negative_prompt}
    notes = check_length(te.tokenizer, texts, te.tokenizer.model_max_length, truncate)
    host.load_to_device([te.managed, encoder_2])
    pipe = _sdxl_pipeline(config=None, tokenizer=te.tokenizer, text_encoder=te.module, tokenizer_2=tokenizer_2,
                          text_encoder_2=encoder_2.module)
    # An empty negative prompt is None, as a pipeline call without one: SDXL then uses zeros
    # (force_zeros_for_empty_prompt, as the released SDXL folders set it) instead of encoding "".
    outputs = pipe.encode_prompt(prompt, device=te.managed.device, num_videos_per_prompt=1,
                                 do_classifier_free_guidance=True, negative_prompt=negative_prompt or None,
                                 clip_skip=None)
    return DVConditioning(te.family, prompt, negative_prompt, dict(zip(SDXL_EMBED_KEYS, outputs, strict=True)), notes)


def _line_options(inputs: SampleInputs) -> dict[str, Any]:
    return {name: value for name, value in (inputs.options or {}).items() if name in OPTION_NAMES}


def _task(model: DVModel, inputs: SampleInputs) -> str:
    """Which AnimateDiff pipeline a run takes, from the model and what is wired."""
    if is_sdxl(model):
        return "sdxl"
    control = inputs.control
    if control is not None and _is_sparse(control):
        return "sparsectrl"
    if inputs.video is not None:
        return "v2v_controlnet" if control is not None else "v2v"
    return "controlnet" if control is not None else "t2v"


PIPELINES = {"t2v": "AnimateDiffPipeline", "controlnet": "AnimateDiffControlNetPipeline",
             "sparsectrl": "AnimateDiffSparseControlNetPipeline", "v2v": "AnimateDiffVideoToVideoPipeline",
             "v2v_controlnet": "AnimateDiffVideoToVideoControlNetPipeline", "sdxl": "AnimateDiffSDXLPipeline"}
FREE_NOISE_TASKS = ("t2v", "controlnet", "v2v", "v2v_controlnet")  # the pipelines with AnimateDiffFreeNoiseMixin


def _is_sparse(control: DVControl) -> bool:
    from diffusers import SparseControlNetModel

    return isinstance(control.controlnet.module, SparseControlNetModel)


def check_controlnet_base(model: DVModel, control: DVControl) -> None:
    """A ControlNet is a copy of its base UNet's encoder: one of another base (SDXL on SD1.5, ...) cannot run
    beside the UNet. Compared by the shapes both configs declare, never by names."""
    unet, net = model.module.config, control.controlnet.module.config
    keys = ("cross_attention_dim", "block_out_channels", "addition_embed_type")

    def shape(config) -> tuple:
        return tuple(tuple(v) if isinstance(v, list | tuple) else v for v in (config.get(k) for k in keys))

    if shape(unet) != shape(net):
        base = "SDXL" if unet.get("addition_embed_type") == "text_time" else "SD1.5"
        other = "SDXL" if net.get("addition_embed_type") == "text_time" else "another base"
        raise DVInputError("control", f"the ControlNet '{control.controlnet.source}' was made for {other} (text "
                           f"width {net.get('cross_attention_dim')}, blocks {tuple(net.get('block_out_channels'))}); "
                           f"the model '{model.source}' is {base} (text width {unet.get('cross_attention_dim')}, "
                           f"blocks {tuple(unet.get('block_out_channels'))}).",
                           f"a ControlNet trained for {base} (the model's base).")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    from diffusers import UNetMotionModel

    if not isinstance(model.module, UNetMotionModel):
        return _image_model(model, scheduler, params, inputs)
    task = _task(model, inputs)
    _check_inputs(task, model, params, inputs)
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial)
    _check_text(task, model, cond)
    options = _line_options(inputs)
    free_noise = int(options.get("context_length", 0))
    max_frames = int(model.module.config.get("motion_max_seq_length") or 32)
    if free_noise:
        if task not in FREE_NOISE_TASKS:
            raise DVInputError("options", f"FreeNoise (context_length {free_noise}) is not in diffusers' "
                               f"{PIPELINES[task]}.", "context_length 0, or a run without "
                               + ("SDXL" if task == "sdxl" else "SparseCtrl") + " (text-to-video, ControlNet, "
                               "video-to-video).")
        if free_noise > max_frames:
            raise DVInputError("options", f"context_length {free_noise} is beyond this motion adapter's "
                               f"{max_frames} positions.", f"context_length at most {max_frames} (16 is usual).")
    elif params.num_frames > max_frames:
        raise DVInputError("num_frames", f"this motion adapter's positions reach {max_frames} frames.",
                           f"at most {max_frames} (it was trained on 16), or FreeNoise for longer videos "
                           "(context_length on DVAnimateDiffOptions).")

    control = inputs.control
    managed = [model.managed]
    components: dict[str, Any] = {"unet": model.module, "scheduler": scheduler.create()}
    if control is not None:
        managed.append(control.controlnet.managed)
        components["controlnet"] = control.controlnet.module
    if _needs_vae(task, control):
        managed.append(inputs.vae.managed)
        components["vae"] = inputs.vae.module
    host.load_to_device(managed)
    import diffusers

    pipe = assemble(getattr(diffusers, PIPELINES[task]), config=model.pipeline_config, **components)
    _set_vae_scale(pipe, model.geometry.spatial)
    if "vae" not in components:
        # AnimateDiffSDXLPipeline asks the VAE whether to upcast it even when it returns latents: a VAE that
        # needs none stands in, so sampling does not hold the real one in memory.
        object.__setattr__(pipe, "vae", SimpleNamespace(dtype=model.managed.dtype,
                                                        config=SimpleNamespace(force_upcast=False)))
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        **{key: value.to(device=device, dtype=dtype) for key, value in cond.embeds.items()},
        "height": params.height, "width": params.width,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    if task in ("v2v", "v2v_controlnet"):
        call_kwargs["video"] = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options,
                                               params.num_frames)
        call_kwargs["strength"] = float(options.get("strength", STRENGTH_DEFAULT))
    else:
        call_kwargs["num_frames"] = params.num_frames
    if control is not None:
        call_kwargs["conditioning_frames"] = pipeline_frames("control", control.frames, params.height, params.width,
                                                             inputs.options, same_aspect=True)
        call_kwargs["controlnet_conditioning_scale"] = float(control.strength)
    if task == "sparsectrl":
        call_kwargs["controlnet_frame_indices"] = _frame_indices(options, control, params)
    with _free_noise(pipe, options, max_frames, cond, call_kwargs):
        _free_init(pipe, options)
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": int(latents.shape[2])}


def _image_model(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
                 inputs: SampleInputs) -> dict[str, Any]:
    """An SD image UNet without motion: frame by frame (Text2Video-Zero recipes), or refused."""
    from . import text2video_zero

    options = _line_options(inputs)
    if options:
        raise DVInputError("options", "DVAnimateDiffOptions set AnimateDiff settings, but the model has no motion "
                           "adapter.", "apply a motion adapter (DVMotionAdapterLoader -> DVApplyMotionAdapter), or "
                           "remove DVAnimateDiffOptions from the options chain.")
    if is_sdxl(model):
        raise DVInputError("model", f"'{model.source}' is a Stable Diffusion XL image model without motion.",
                           "apply an SDXL motion adapter first (DVMotionAdapterLoader -> DVApplyMotionAdapter).")
    if inputs.control is not None:
        if _is_sparse(inputs.control):
            raise DVInputError("control", "a SparseCtrl ControlNet works beside AnimateDiff's motion modules, and "
                               "the model has none.", "apply an SD1.5 motion adapter (DVApplyMotionAdapter), or a "
                               "regular ControlNet for frame-by-frame video.")
        check_controlnet_base(model, inputs.control)
    mode = text2video_zero.mode_for(model, inputs)
    if mode is None:
        raise DVInputError("model", f"'{model.source}' is a Stable Diffusion image model without motion.",
                           "apply a motion adapter first (DVMotionAdapterLoader -> DVApplyMotionAdapter), or "
                           "make video frame by frame: a ControlNet (DVApplyControlNet into 'control') or "
                           "DVText2VideoZeroOptions into 'options'.")
    return text2video_zero.sample(mode, model, scheduler, params, inputs)


def _needs_vae(task: str, control: DVControl | None) -> bool:
    # Video-to-video encodes the input video; an RGB SparseCtrl encodes its control images.
    return task in ("v2v", "v2v_controlnet") or (
        task == "sparsectrl" and bool(control.controlnet.module.config.get("use_simplified_condition_embedding")))


def _check_inputs(task: str, model: DVModel, params: SampleParams, inputs: SampleInputs) -> None:
    """Everything wired that this run cannot use, refused by name before any work."""
    control, options = inputs.control, _line_options(inputs)
    if inputs.image is not None:
        raise DVInputError("image", f"{model.family.label} takes no first image.",
                           "disconnect 'image'; for video-to-video wire the frames into 'video'.")
    if task == "sdxl":
        for name, value, why in (("control", control, "diffusers has no AnimateDiff SDXL ControlNet pipeline"),
                                 ("video", inputs.video, "diffusers has no AnimateDiff SDXL video-to-video pipeline")):
            if value is not None:
                raise DVInputError(name, f"{why}.", f"disconnect '{name}', or an SD1.5 model with an SD1.5 "
                                   "motion adapter.")
    if control is not None:
        if control.cross_frame:
            raise DVInputError("control", "cross-frame attention is for frame-by-frame video; AnimateDiff's motion "
                               "modules keep the frames together.", "the control straight from DVApplyControlNet "
                               "(no DVCrossFrameAttention).")
        check_controlnet_base(model, control)
        count = int(control.frames.shape[0])
        if task == "sparsectrl":
            if inputs.video is not None:
                raise DVInputError("video", "diffusers has no SparseCtrl video-to-video pipeline.",
                                   "disconnect 'video', or a regular ControlNet for video-to-video.")
            if count > params.num_frames:
                raise DVInputError("control", f"{count} SparseCtrl control images for {params.num_frames} frames.",
                                   f"at most {params.num_frames} control images (one per conditioned frame), or "
                                   f"num_frames {count} or more.")
            if _needs_vae(task, control) and inputs.vae is None:
                raise DVInputError("vae", "this SparseCtrl (RGB) encodes its control images with the VAE.",
                                   "the VAE from the same SD1.5 folder.")
        else:
            frames = params.num_frames
            if count != frames:
                raise DVInputError("control", f"{count} control frames, but the video has {frames} frames; "
                                   "a ControlNet takes one control image per frame.",
                                   f"{frames} control frames (or num_frames {count}); for a few key frames only, "
                                   "a SparseCtrl ControlNet.")
    elif options.get("controlnet_frame_indices", "").strip():
        raise DVInputError("options", "controlnet_frame_indices places SparseCtrl control images, and no control is "
                           "wired.", "a SparseCtrl control into 'control', or controlnet_frame_indices empty.")
    if task == "sparsectrl" or (control is not None and _is_sparse(control)):
        _frame_indices(options, control, params)  # refuses bad indices now, before any work
    elif options.get("controlnet_frame_indices", "").strip():
        raise DVInputError("options", "controlnet_frame_indices is for a SparseCtrl ControlNet; this control "
                           "conditions every frame.", "controlnet_frame_indices empty, or a SparseCtrl ControlNet.")
    strength = float(options.get("strength", STRENGTH_DEFAULT))
    if task in ("v2v", "v2v_controlnet"):
        if inputs.vae is None:
            raise DVInputError("vae", "AnimateDiff video-to-video encodes the input video with the VAE, and none is "
                               "wired in.", "the VAE from the same SD1.5 folder.")
        frames = int(inputs.video.shape[0])
        if frames < params.num_frames:
            raise DVInputError("video", f"{frames} frames wired in, fewer than num_frames {params.num_frames}.",
                               f"num_frames at most {frames}, or a longer video.")
        if int(params.num_inference_steps * strength) < 1:
            # The pipeline keeps int(steps * strength) steps; none left would return the noised input.
            raise DVInputError("options", f"strength {strength} of {params.num_inference_steps} steps leaves no "
                               "denoising step.", f"strength >= {1 / params.num_inference_steps:.2f} or more steps.")
    elif strength != STRENGTH_DEFAULT:
        raise DVInputError("options", f"the options set a video-to-video strength of {strength}, but no video is "
                           "wired in.", f"the input frames into 'video', or strength back at {STRENGTH_DEFAULT}.")


def _check_text(task: str, model: DVModel, cond: DVConditioning) -> None:
    """Embeddings from the other base's text encoder (SD1.5 for SDXL or back) would fail inside the UNet."""
    sdxl_cond = "pooled_prompt_embeds" in cond.embeds
    if sdxl_cond != (task == "sdxl"):
        made, needed = ("SDXL", "SD1.5") if sdxl_cond else ("SD1.5", "SDXL")
        raise DVInputError("conditioning", f"the conditioning was made by an {made} text encoder, but the model is "
                           f"{needed}.", f"encode the prompt with the {needed} model's text encoder.")
    width, expected = int(cond.embeds["prompt_embeds"].shape[-1]), int(model.module.config.cross_attention_dim)
    if width != expected:
        raise DVInputError("conditioning", f"the text embeddings have width {width}, but this UNet expects "
                           f"{expected}.", "the text encoder from the same folder as the model.")


def _frame_indices(options: dict[str, Any], control: DVControl, params: SampleParams) -> list[int]:
    """SparseCtrl's controlnet_frame_indices: one distinct frame per control image, inside the video."""
    count = int(control.frames.shape[0])
    text = str(options.get("controlnet_frame_indices", "")).strip()
    if not text:
        return list(range(count))
    try:
        indices = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise DVInputError("options", f"controlnet_frame_indices '{text}' is not a list of frame numbers.",
                           "whole numbers separated by commas, e.g. 0, 8, 15.") from None
    if len(indices) != count:
        raise DVInputError("options", f"controlnet_frame_indices gives {len(indices)} frames for {count} control "
                           "images.",
                           f"exactly {count} indices (one per control image), or empty for 0..{count - 1}.")
    outside = [i for i in indices if not 0 <= i < params.num_frames]
    if outside:
        raise DVInputError("options", f"controlnet_frame_indices {outside} are not frames of a "
                           f"{params.num_frames}-frame video.", f"indices from 0 to {params.num_frames - 1}.")
    if len(set(indices)) != len(indices):
        raise DVInputError("options", f"controlnet_frame_indices {indices} names a frame twice.",
                           "each frame once (one control image per frame).")
    return indices


def _set_vae_scale(pipe, spatial: int) -> None:
    """The VAE factor the pipeline reads from a VAE that sampling may not need (the loaded model's own)."""
    pipe.vae_scale_factor = spatial
    for name in ("video_processor", "control_video_processor", "control_image_processor"):
        processor = getattr(pipe, name, None)
        if processor is not None:
            processor.register_to_config(vae_scale_factor=spatial)


@contextlib.contextmanager
def _free_noise(pipe, options: dict[str, Any], max_frames: int, cond: DVConditioning,
                call_kwargs: dict[str, Any]) -> Iterator[None]:
    """enable_free_noise for the run, and the UNet's own motion blocks back afterwards whatever happens: FreeNoise
    swaps them for windowed ones in place, and the loaded model is shared with every other run."""
    length = int(options.get("context_length", 0))
    if not length:
        yield
        return
    # enable_free_noise reads the adapter's position count; the adapter itself is already inside the UNet.
    object.__setattr__(pipe, "motion_adapter", SimpleNamespace(config=SimpleNamespace(
        motion_max_seq_length=max_frames)))
    # FreeNoise encodes the prompt itself (per-frame prompts): give it DVTextEncode's embeddings instead.
    positive, negative = call_kwargs.pop("prompt_embeds"), call_kwargs.pop("negative_prompt_embeds")

    def encode_prompt(prompt, device, num_images_per_prompt, do_classifier_free_guidance, negative_prompt=None,
                      **_: Any):
        n = len(prompt) if isinstance(prompt, list) else 1
        return positive.repeat(n, 1, 1), (negative.repeat(n, 1, 1) if do_classifier_free_guidance else None)

    pipe.encode_prompt = encode_prompt
    call_kwargs.update(prompt=cond.prompt, negative_prompt=cond.negative_prompt)
    pipe.enable_free_noise(context_length=length, context_stride=int(options.get("context_stride", 4)),
                           weighting_scheme=str(options.get("weighting_scheme", "pyramid")),
                           noise_type=str(options.get("noise_type", "shuffle_context")))
    try:
        yield
    finally:
        pipe.disable_free_noise()


def _free_init(pipe, options: dict[str, Any]) -> None:
    iterations = int(options.get("free_init_iterations", 0))
    if iterations:
        pipe.enable_free_init(num_iters=iterations,
                              use_fast_sampling=bool(options.get("free_init_use_fast_sampling", False)),
                              method=str(options.get("free_init_method", "butterworth")),
                              order=int(options.get("free_init_order", 4)),
                              spatial_stop_frequency=float(options.get("free_init_spatial_stop_frequency", 0.25)),
                              temporal_stop_frequency=float(options.get("free_init_temporal_stop_frequency", 0.25)))


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As AnimateDiffPipeline.decode_latents: the image VAE on decode_chunk_size frames at a time."""
    return decode_util.decode_image_vae(vae, latent, settings.chunk or DECODE_CHUNK, settings, do_resize=False)
