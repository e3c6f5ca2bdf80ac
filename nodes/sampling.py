"""Sampling nodes: scheduler choice, prompt encoding and the denoising loop, for every family."""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import DVInputError, expect_type, finite_number
from ..families import all_families
from ..model_loaders import acceleration, auto_offload, lora, offload, step_cache
from ..model_loaders.components import (
    DVVAE,
    DVConditioning,
    DVControl,
    DVModel,
    DVSamplerOptions,
    DVSchedulerSpec,
    DVTextEncoder,
)
from ..parallel import context as parallel_context
from ..parallel import group as parallel_group

CATEGORY = "DiffusersVideo/sampling"

# Widget name -> diffusers scheduler class. The families' own schedulers first.
# Choices -> diffusers class: the model's own, each family's own schedulers (Family.schedulers), the shared ones.
SCHEDULERS = {
    "from model": None,
    **{name: cls for family in all_families() for name, cls in family.schedulers.items()},
    "DDIM": "DDIMScheduler",
    "Euler": "EulerDiscreteScheduler",
    "Euler ancestral": "EulerAncestralDiscreteScheduler",
    "DPM++ 2M": "DPMSolverMultistepScheduler",
    "UniPC": "UniPCMultistepScheduler",
    "FlowMatch Euler": "FlowMatchEulerDiscreteScheduler",
}
TIMESTEP_SPACINGS = ["from model", "trailing", "leading", "linspace"]
FROM_MODEL = "from model"

# Scheduler options as data: widget -> (diffusers config key, choices or None for a number, tooltip). A
# choice of "from model" (or a number of 0) leaves the key as the model's scheduler config has it.
_TRI = [FROM_MODEL, "true", "false"]
SCHEDULER_OPTIONS: dict[str, tuple[str, list[str] | None, str]] = {
    "flow_shift": ("flow_shift", None, "Shift of the flow-matching noise schedule (Wan: 3.0 at 480p, 5.0 at "
                   "720p); 0 keeps the model's. UniPC/DPM++ on flow sigmas and FlowMatch Euler."),
    "beta_schedule": ("beta_schedule", [FROM_MODEL, "linear", "scaled_linear", "squaredcos_cap_v2"],
                      "The noise schedule of DDPM-style schedulers (AnimateDiff's guide: linear)."),
    "prediction_type": ("prediction_type", [FROM_MODEL, "epsilon", "v_prediction", "sample"],
                        "What the model predicts; only change it to match how the model was trained."),
    "clip_sample": ("clip_sample", _TRI, "Clip the predicted sample to [-1, 1] (DDIM; AnimateDiff's guide: "
                    "false)."),
    "steps_offset": ("steps_offset", None, "Offset added to the inference timesteps (AnimateDiff's guide: 1); "
                     "0 keeps the model's."),
    "rescale_betas_zero_snr": ("rescale_betas_zero_snr", _TRI, "Rescale betas to zero terminal SNR (for "
                               "v-prediction models trained that way)."),
    "use_karras_sigmas": ("use_karras_sigmas", _TRI, "Karras noise levels (Euler, DPM++ 2M, UniPC)."),
    "algorithm_type": ("algorithm_type", [FROM_MODEL, "dpmsolver++", "sde-dpmsolver++"],
                       "DPM++ 2M's variant; the SDE one adds noise each step."),
    "solver_order": ("solver_order", None, "Order of the multistep solvers (DPM++ 2M, UniPC); 0 keeps the "
                     "model's."),
}


def _scheduler_overrides(options: dict[str, object]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for widget, value in options.items():
        key, choices, _ = SCHEDULER_OPTIONS[widget]
        if choices is None and value is not None:  # a number: NaN would pass `not value` and reach diffusers
            number = finite_number(widget, value, 0.0, 100.0 if widget == "flow_shift" else 10.0)
            value = number if widget == "flow_shift" else value
        if value in (FROM_MODEL, None) or (choices is None and not value):
            continue
        if choices is not None and value not in choices:
            raise DVInputError(widget, f"'{value}' is not a choice.", ", ".join(choices))
        overrides[key] = {"true": True, "false": False}.get(value, value) if choices is not None else value
    return overrides


class DVScheduler:
    DISPLAY_NAME = "DV Scheduler"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Chooses the diffusers scheduler for DVSampler and its options. The model's own noise schedule (betas, "
        "prediction type, shift) is kept unless a base scheduler is wired in or an option here changes it; "
        "an option the chosen scheduler does not take is an error, not silently ignored."
    )
    FUNCTION = "build"
    RETURN_TYPES = ("DV_SCHEDULER",)
    RETURN_NAMES = ("scheduler",)
    OUTPUT_TOOLTIPS = ("A scheduler recipe for DVSampler's scheduler input.",)

    @classmethod
    def INPUT_TYPES(cls):
        optional: dict[str, tuple] = {
            "base": ("DV_SCHEDULER", {"tooltip": "A scheduler (e.g. from DVPipelineLoader) whose config is the "
                                      "starting point instead of the model's."}),
        }
        for widget, (_, choices, tooltip) in SCHEDULER_OPTIONS.items():
            if choices is not None:
                optional[widget] = (list(choices), {"default": FROM_MODEL, "tooltip": tooltip})
            elif widget == "flow_shift":
                optional[widget] = ("FLOAT", {"default": 0.0, "min": 0.0, "max": 100.0, "step": 0.1,
                                              "tooltip": tooltip})
            else:
                optional[widget] = ("INT", {"default": 0, "min": 0, "max": 10, "tooltip": tooltip})
        return {
            "required": {
                "scheduler": (list(SCHEDULERS), {
                    "default": FROM_MODEL,
                    "tooltip": "The scheduler class; 'from model' keeps the model's own.",
                }),
                "timestep_spacing": (TIMESTEP_SPACINGS, {"default": FROM_MODEL,
                                                         "tooltip": "How the steps are spread over the noise levels."}),
            },
            "optional": optional,
        }

    def build(self, scheduler: str, timestep_spacing: str, base: DVSchedulerSpec | None = None, **options):
        if scheduler not in SCHEDULERS:
            raise DVInputError("scheduler", f"unknown scheduler '{scheduler}'.", ", ".join(SCHEDULERS))
        unknown = sorted(set(options) - set(SCHEDULER_OPTIONS))
        if unknown:
            raise DVInputError(unknown[0], "is not an option of this node.",
                               ", ".join(SCHEDULER_OPTIONS))
        overrides = _scheduler_overrides(options)
        if timestep_spacing != FROM_MODEL:
            overrides["timestep_spacing"] = timestep_spacing
        class_name = SCHEDULERS[scheduler]
        if class_name is not None:
            _check_options_fit(class_name, overrides, scheduler)
        spec = DVSchedulerSpec(class_name, (), tuple(sorted(overrides.items())), "DVScheduler")
        if base is not None:
            expect_type("base", base, DVSchedulerSpec, "a DV_SCHEDULER")
            spec = spec.on_top_of(base)
        return (spec,)


def _check_options_fit(class_name: str, overrides: dict[str, object], label: str,
                       input_name: str | None = None) -> None:
    """diffusers drops config keys a scheduler does not take with only a log line; a user who set one
    should learn it did nothing."""
    accepted = DVSchedulerSpec.accepted_keys(class_name)
    # flow_shift is translated to FlowMatch's own `shift` when the recipe is created.
    if class_name.startswith("FlowMatch"):
        accepted = accepted | {"flow_shift"}
    for key in sorted(overrides):
        if key not in accepted:
            widget = next((w for w, (k, _, _) in SCHEDULER_OPTIONS.items() if k == key), key)
            takers = [name for name, cls in SCHEDULERS.items()
                      if cls and (key in DVSchedulerSpec.accepted_keys(cls)
                                  or (key == "flow_shift" and cls.startswith("FlowMatch")))]
            raise DVInputError(input_name or widget, f"{label} has no '{key}' option.",
                               f"'{FROM_MODEL}' here, or a scheduler that takes it: {', '.join(takers) or 'none'}.")


class DVTextEncode:
    DISPLAY_NAME = "DV Text Encode"
    CATEGORY = CATEGORY
    DESCRIPTION = "Encodes a prompt and a negative prompt with the family's text encoder, as its pipeline does."
    FUNCTION = "encode"
    RETURN_TYPES = ("DV_CONDITIONING",)
    RETURN_NAMES = ("conditioning",)
    OUTPUT_TOOLTIPS = ("Prompt and negative-prompt embeddings for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text_encoder": ("DV_TEXT_ENCODER", {"tooltip": "From DVPipelineLoader or DVTextEncoderLoader."}),
                "prompt": ("STRING", {"multiline": True, "dynamicPrompts": True,
                                      "tooltip": "What the video shows. Long, detailed prompts work best."}),
                "negative_prompt": ("STRING", {"multiline": True, "default": "",
                                               "tooltip": "What to steer away from (used when guidance_scale > 1)."}),
                "max_sequence_length": ("INT", {"default": 226, "min": 1, "max": 4096,
                                                "tooltip": "Tokens the prompt is padded or cut to; CogVideoX: 226."}),
                "truncate_long_prompt": ("BOOLEAN", {"default": True,
                                                     "tooltip": "Cut prompts longer than max_sequence_length (a "
                                                     "warning says so) instead of stopping with an error."}),
            }
        }

    def encode(self, text_encoder: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
               truncate_long_prompt: bool):
        expect_type("text_encoder", text_encoder, DVTextEncoder, "a DV_TEXT_ENCODER")
        glue = text_encoder.family.load_glue()
        cond = glue.encode(text_encoder, prompt, negative_prompt, max_sequence_length,
                           truncate_long_prompt)
        return (cond,)


def _check_resize_mode_applies(options: DVSamplerOptions | None, image, video, control) -> None:
    """DVImageInputOptions fits an image, video or control frames to the size: with none wired, a mode other
    than its default would silently do nothing."""
    mode = dict(options.values).get("resize_mode", "default") if options is not None else "default"
    if mode != "default" and image is None and video is None and control is None:
        raise DVInputError("options", f"resize_mode '{mode}' fits an input image, video or control frames to the "
                           "size, and none is wired in.",
                           "an IMAGE into 'image' or 'video' (or a control), or resize_mode 'default' (or no "
                           "DVImageInputOptions).")


class DVSampler:
    DISPLAY_NAME = "DV Sampler"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Runs the family's diffusers pipeline as the denoising loop, so the frames match the reference pipeline "
        "for the same seed. Shows a progress bar per step; the Cancel button stops it at the next step."
    )
    FUNCTION = "sample"
    RETURN_TYPES = ("LATENT",)
    # The family's frame rule answers a bad count with the valid ones nearby; the boundary checks only the type.
    RANGES_CHECKED_BY_NODE = ("num_frames",)
    RETURN_NAMES = ("samples",)
    OUTPUT_TOOLTIPS = ("Video latents [B, C, F, H, W], for DVVAEDecode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "From DVPipelineLoader or DVModelLoader."}),
                "width": ("INT", {"default": 720, "min": 16, "max": 4096, "step": 16,
                                  "tooltip": "Frame width in pixels; a multiple of the family's factor "
                                  "(CogVideoX: 16)."}),
                "height": ("INT", {"default": 480, "min": 16, "max": 4096, "step": 16,
                                   "tooltip": "Frame height in pixels; a multiple of the family's factor."}),
                "num_frames": ("INT", {"default": 49, "min": 1, "max": 1025,
                                       "tooltip": "Frames to generate; CogVideoX, HunyuanVideo and Wan take 4k+1."}),
                "num_inference_steps": ("INT", {"default": 50, "min": 1, "max": 1000,
                                                "tooltip": "Denoising steps; more is slower and usually finer."}),
                "guidance_scale": ("FLOAT", {"default": 6.0, "min": 0.0, "max": 30.0, "step": 0.1, "round": 0.01,
                                             "tooltip": "Classifier-free guidance; 1 or less turns it (and the "
                                             "negative prompt) off."}),
                "seed": ("INT", {"default": 42, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                                 "tooltip": "The same seed and settings give the same video."}),
            },
            "optional": {
                "conditioning": ("DV_CONDITIONING", {"tooltip": "From DVTextEncode with the same family; "
                                                     "families driven by text need it."}),
                "scheduler": ("DV_SCHEDULER", {"tooltip": "From DVScheduler or a loader; the model's own if empty."}),
                "vae": ("DV_VAE", {"tooltip": "Image- and video-to-video families encode their input with it."}),
                "image": ("IMAGE", {"tooltip": "The first frame or reference image, for image-to-video."}),
                "video": ("IMAGE", {"tooltip": "Input frames, for video-to-video."}),
                "options": ("DV_SAMPLER_OPTIONS", {"tooltip": "Family extras from an options node."}),
                "control": ("DV_CONTROL", {"tooltip": "A ControlNet with one control image per frame, from "
                                           "DVApplyControlNet (SD1.5 image models)."}),
            },
            # A DVParallel model's workers rebuild this call's inputs from the nodes that made them.
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},
        }

    def sample(self, model: DVModel, width: int, height: int, num_frames: int, num_inference_steps: int,
               guidance_scale: float, seed: int, conditioning: DVConditioning | None = None,
               scheduler: DVSchedulerSpec | None = None, vae: DVVAE | None = None, image=None, video=None,
               options: DVSamplerOptions | None = None, control: DVControl | None = None,
               prompt: dict | None = None, unique_id: str | None = None):
        from ..samplers.pipeline import SampleInputs, SampleParams

        expect_type("model", model, DVModel, "a DV_MODEL")
        guidance_scale = finite_number("guidance_scale", guidance_scale, 0.0, 30.0,
                                       "a number from 0 to 30 (1 or less turns guidance off).")
        if isinstance(seed, bool) or not isinstance(seed, int) or not -2**63 <= seed < 2**64:
            raise DVInputError("seed", f"{seed!r} is not a seed torch can take.",
                               "a whole number from 0 to 18446744073709551615.")
        for name, value, cls, what in (("conditioning", conditioning, DVConditioning, "a DV_CONDITIONING"),
                                       ("vae", vae, DVVAE, "a DV_VAE"),
                                       ("options", options, DVSamplerOptions, "DV_SAMPLER_OPTIONS"),
                                       ("control", control, DVControl, "a DV_CONTROL")):
            if value is not None:
                expect_type(name, value, cls, what)
        if options is not None and not options.family_ids:
            raise DVInputError("options", f"these options ({options.source}) chain options nodes of different "
                               "families, so none of them takes them all.",
                               f"only {model.family.label}'s options node, alone or with DVImageInputOptions.")
        if options is not None and model.family.id not in options.family_ids:
            raise DVInputError("options", f"these options ({options.source}) are for "
                               f"{', '.join(options.family_ids)}, not {model.family.label}.",
                               f"an options node for {model.family.label}, or none.")
        if control is not None and not model.family.takes_control:
            raise DVInputError("control", f"a ControlNet guides a Stable Diffusion 1.5 UNet, but the model is "
                               f"{model.family.label}.",
                               "an SD1.5 model from DVPipelineLoader, or disconnect 'control'.")
        _check_resize_mode_applies(options, image, video, control)
        glue = model.family.load_glue()
        default = model.scheduler or glue.DEFAULT_SCHEDULER
        if scheduler is not None:
            expect_type("scheduler", scheduler, DVSchedulerSpec, "a DV_SCHEDULER")
            scheduler = scheduler.on_top_of(default)
        else:
            scheduler = default
        if scheduler.class_name and scheduler.overrides:
            _check_options_fit(scheduler.class_name, dict(scheduler.overrides),
                               f"the model's {scheduler.class_name}", "scheduler")
        if scheduler.is_flow_matching != model.family.flow_matching:
            kind = "flow-matching" if model.family.flow_matching else "noise-prediction (DDPM-style)"
            raise DVInputError("scheduler", f"{scheduler.class_name} does not fit {model.family.label}, "
                               f"which is a {kind} model.", f"a {kind} scheduler, or 'from model'.")
        if model.parallel is not None and parallel_group.current() is None:  # this server is rank 0 of a pool
            call = {"model": model, "width": width, "height": height, "num_frames": num_frames,
                    "num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "seed": seed,
                    "conditioning": conditioning, "scheduler": scheduler, "vae": vae, "image": image,
                    "video": video, "options": options, "control": control}
            return _sample_across_workers(self, model.parallel, prompt, unique_id, call)
        params = SampleParams(width, height, num_frames, num_inference_steps, guidance_scale, seed)
        inputs = SampleInputs(conditioning, vae, image, video, dict(options.values) if options else None, control)
        from ..samplers.pipeline import current_timestep

        with contextlib.ExitStack() as stack:
            # The plan (and the working memory declared to the manager) comes first: it fails before any weight moves.
            model = stack.enter_context(auto_offload.for_run(model, width, height, num_frames, guidance_scale))
            for expert in model.experts():  # each denoiser gets its own LoRAs, cache, compile and offload
                stack.enter_context(parallel_context.applied(expert, width, height, num_frames))
                stack.enter_context(lora.applied(expert))
                stack.enter_context(step_cache.applied(expert, current_timestep, guidance_scale, num_inference_steps))
                stack.enter_context(acceleration.applied(expert))
                stack.enter_context(offload.applied(expert))
            return (glue.sample(model, scheduler, params, inputs),)


def _sample_across_workers(sampler: DVSampler, spec: Any, prompt: dict | None, unique_id: str | None,
                           call: dict[str, Any]) -> tuple:
    """Rank 0's side of a DVParallel run: the workers get the nodes that made each input and the widget values,
    and every rank runs the same DVSampler call, each denoising its share of the tokens."""
    from ..parallel import pool, recipe
    from ..runner.core_nodes import CORE_NODES
    from . import NODE_CLASS_MAPPINGS
    from .parallel import _backend

    recipes, values = recipe.for_node(prompt, unique_id, {**CORE_NODES, **NODE_CLASS_MAPPINGS}, call)
    job = {"mode": spec.mode, "recipes": recipes, "values": values}
    workers = pool.pool_for(spec.degree, _backend()[0], spec.timeout_s)
    return workers.run(job, lambda: sampler.sample(**call, prompt=prompt, unique_id=unique_id))


NODES = [DVScheduler, DVTextEncode, DVSampler]
