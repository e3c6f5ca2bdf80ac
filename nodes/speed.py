"""Speed options: diffusers' step caches on a model, for the runs of DVSampler that use this wire."""

from __future__ import annotations

from dataclasses import replace

from ..errors import DVInputError, expect_type, finite_number
from ..model_loaders import acceleration, step_cache
from ..model_loaders.components import DVModel

CATEGORY = "DiffusersVideo/speed"


class DVStepCache:
    DISPLAY_NAME = "DV Step Cache"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Skips transformer work on steps that change little, through diffusers' cache hooks: FirstBlockCache "
        "(skip the rest of the blocks when the first block's output barely moved), PyramidAttentionBroadcast "
        "and FasterCache (reuse attention outputs inside a timestep range), MagCache (skip steps whose output "
        "magnitude it predicts from calibrated ratios) and TaylorSeer (extrapolate attention outputs between "
        "full steps). Faster, slightly different frames; the model elsewhere in the graph stays uncached."
    )
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model with the cache, for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "A DiT model (CogVideoX, Wan, LTX-Video, HunyuanVideo, Mochi)."}),
                "cache": (list(step_cache.CACHES), {"default": "FirstBlockCache", "tooltip": "Which cache."}),
                "threshold": ("FLOAT", {"default": 0.05, "min": 0.0, "max": 1.0, "step": 0.005,
                                        "tooltip": "FirstBlockCache: relative change of the first block below "
                                        "which a step reuses the cached rest; MagCache: accumulated error "
                                        "allowed before a full step. Higher skips more."}),
                "skip_range": ("INT", {"default": 2, "min": 1, "max": 50,
                                       "tooltip": "PyramidAttentionBroadcast/FasterCache: recompute attention "
                                       "every n-th step; TaylorSeer: a full step every n-th; MagCache: at most "
                                       "this many skipped steps in a row."}),
                "timestep_start": ("INT", {"default": 100, "min": -1, "max": 1000,
                                           "tooltip": "PyramidAttentionBroadcast/FasterCache: cache only while "
                                           "the timestep is above this..."}),
                "timestep_end": ("INT", {"default": 800, "min": 0, "max": 1001,
                                         "tooltip": "...and below this (diffusers' defaults: 100-800)."}),
            },
            "optional": {
                "warmup_steps": ("INT", {"default": 3, "min": 0, "max": 100,
                                         "tooltip": "TaylorSeer: full steps before it starts predicting."}),
                "mag_ratios": ("STRING", {"default": "", "tooltip": "MagCache: this model's magnitude ratios, as "
                                          "'MagCache (calibrate)' logs them for the same steps."}),
            },
        }

    def apply(self, model: DVModel, cache: str, threshold: float, skip_range: int, timestep_start: int,
              timestep_end: int, warmup_steps: int = 3, mag_ratios: str = ""):
        expect_type("model", model, DVModel, "a DV_MODEL")
        threshold = finite_number("threshold", threshold, 0.0, 1.0)
        values = {"threshold": threshold, "skip_range": skip_range, "timestep_start": timestep_start,
                  "timestep_end": timestep_end, "warmup_steps": warmup_steps, "mag_ratios": mag_ratios}
        for expert in model.experts():
            step_cache.check_fits(expert, cache, values)
        used = step_cache.CACHES[cache][1]
        spec = step_cache.DVStepCacheSpec(cache, tuple(sorted((k, v) for k, v in values.items() if k in used)),
                                          model.family.hidden_layout)
        return (replace(model, step_cache=spec),)


class DVTorchCompile:
    DISPLAY_NAME = "DV Torch Compile"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Compiles the DiT or UNet with torch.compile for the runs of DVSampler that use this wire. The first run "
        "compiles (slow); later runs with the same sizes and frame count reuse it. Other wires of the same "
        "model stay uncompiled."
    )
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model to compile, for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "Any model from a loader."}),
                "backend": (acceleration.compile_backends(), {"default": "inductor",
                                                               "tooltip": "torch.compile backend; inductor "
                                                               "makes fast kernels, eager only traces."}),
                "mode": (acceleration.COMPILE_MODES, {"default": "default",
                                                      "tooltip": "inductor's mode; max-autotune tunes longest."}),
                "fullgraph": ("BOOLEAN", {"default": False,
                                          "tooltip": "Fail instead of falling back at graph breaks."}),
                "dynamic": ("BOOLEAN", {"default": False,
                                        "tooltip": "Compile for varying sizes at once (fewer recompiles, slower "
                                        "kernels)."}),
            }
        }

    def apply(self, model: DVModel, backend: str, mode: str, fullgraph: bool, dynamic: bool):
        expect_type("model", model, DVModel, "a DV_MODEL")
        if backend not in acceleration.compile_backends():
            raise DVInputError("backend", f"'{backend}' is not a torch.compile backend here.",
                               ", ".join(acceleration.compile_backends()))
        if mode not in acceleration.COMPILE_MODES:
            raise DVInputError("mode", f"'{mode}'.", ", ".join(acceleration.COMPILE_MODES))
        return (replace(model, compile=acceleration.DVCompileSpec(backend, mode, fullgraph, dynamic)),)


class DVAttentionBackend:
    DISPLAY_NAME = "DV Attention Backend"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Chooses the attention kernels diffusers' dispatcher uses for this wire (native SDPA, flash, sage, "
        "xformers, flex: those installed). Reaches the DiTs that use the dispatcher (Wan, HunyuanVideo, "
        "LTX-Video, ...); a model that calls torch's SDPA itself is refused rather than silently unchanged."
    )
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model with the backend, for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "A DiT model from a loader."}),
                "backend": (acceleration.attention_backends(), {"default": "native",
                                                                 "tooltip": "Installed attention backends."}),
            }
        }

    def apply(self, model: DVModel, backend: str):
        expect_type("model", model, DVModel, "a DV_MODEL")
        if backend not in acceleration.attention_backends():
            raise DVInputError("backend", f"'{backend}' is not installed here.",
                               ", ".join(acceleration.attention_backends()))
        if not acceleration.uses_dispatcher(model.module):
            raise DVInputError("model", f"{model.family.label}'s "
                               f"{type(model.module).__name__} does not use diffusers' attention dispatcher.",
                               "leave this node out for this model (it uses torch's SDPA as is).")
        return (replace(model, attention_backend=backend),)


NODES = [DVStepCache, DVTorchCompile, DVAttentionBackend]
