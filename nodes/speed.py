"""Speed options: diffusers' step caches on a model, for the runs of DVSampler that use this wire."""

from __future__ import annotations

from dataclasses import replace

from ..errors import expect_type
from ..model_loaders import step_cache
from ..model_loaders.components import DVModel

CATEGORY = "DiffusersVideo/speed"


class DVStepCache:
    DISPLAY_NAME = "DV Step Cache"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Skips transformer work on steps that change little, through diffusers' cache hooks: FirstBlockCache "
        "(skip the rest of the blocks when the first block's output barely moved), PyramidAttentionBroadcast "
        "and FasterCache (reuse attention outputs inside a timestep range). Faster, slightly different frames; "
        "the model elsewhere in the graph stays uncached."
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
                                        "which a step reuses the cached rest; higher skips more."}),
                "skip_range": ("INT", {"default": 2, "min": 1, "max": 50,
                                       "tooltip": "PyramidAttentionBroadcast/FasterCache: recompute attention "
                                       "every n-th step."}),
                "timestep_start": ("INT", {"default": 100, "min": -1, "max": 1000,
                                           "tooltip": "PyramidAttentionBroadcast/FasterCache: cache only while "
                                           "the timestep is above this..."}),
                "timestep_end": ("INT", {"default": 800, "min": 0, "max": 1001,
                                         "tooltip": "...and below this (diffusers' defaults: 100-800)."}),
            }
        }

    def apply(self, model: DVModel, cache: str, threshold: float, skip_range: int, timestep_start: int,
              timestep_end: int):
        expect_type("DVStepCache", "model", model, DVModel, "a DV_MODEL")
        step_cache.check_fits("DVStepCache", model, cache)
        values = {"threshold": threshold, "skip_range": skip_range, "timestep_start": timestep_start,
                  "timestep_end": timestep_end}
        used = step_cache.CACHES[cache][1]
        layout = "BFCHW" if model.family.id == "cogvideox" else "BCFHW"
        spec = step_cache.DVStepCacheSpec(cache, tuple(sorted((k, v) for k, v in values.items() if k in used)),
                                          layout)
        return (replace(model, step_cache=spec),)


NODES = [DVStepCache]
