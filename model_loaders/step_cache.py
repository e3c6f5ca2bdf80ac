"""Step caching through diffusers' own hooks (CacheMixin.enable_cache): a DiT skips work on steps whose
result it can predict from earlier ones.

Like LoRAs, a cache is a property of one wire, not of the loaded model: DVStepCache returns a new DV_MODEL
naming the cache, and the hooks are installed only while DVSampler runs that model and removed afterwards,
so another branch (or the next run without the node) gets the uncached model. The hooks hold no weights,
so ComfyUI's memory manager sees the same module either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import DVInputError
from .components import DVModel

# Cache -> (diffusers config class, the node's widgets it reads -> the config's argument names). Kept as data
# so a cache diffusers adds is a line here.
CACHES: dict[str, tuple[str, dict[str, str]]] = {
    "FirstBlockCache": ("FirstBlockCacheConfig", {"threshold": "threshold"}),
    "PyramidAttentionBroadcast": ("PyramidAttentionBroadcastConfig",
                                  {"skip_range": "spatial_attention_block_skip_range",
                                   "timestep_start": "spatial_attention_timestep_skip_range[0]",
                                   "timestep_end": "spatial_attention_timestep_skip_range[1]"}),
    "FasterCache": ("FasterCacheConfig", {"skip_range": "spatial_attention_block_skip_range",
                                          "timestep_start": "spatial_attention_timestep_skip_range[0]",
                                          "timestep_end": "spatial_attention_timestep_skip_range[1]"}),
    "MagCache": ("MagCacheConfig", {"threshold": "threshold", "skip_range": "max_skip_steps",
                                    "mag_ratios": "mag_ratios"}),
    "MagCache (calibrate)": ("MagCacheConfig", {}),
    "TaylorSeer": ("TaylorSeerCacheConfig", {"skip_range": "cache_interval",
                                             "warmup_steps": "disable_cache_before_step"}),
}
# TaylorSeer predicts the video DiTs' self- and cross-attention outputs (its default patterns name Flux's
# `attn`, which these models do not have).
TAYLORSEER_MODULES = [r"^(transformer_blocks|blocks)\.\d+\.attn\d$"]
# MagCache and TaylorSeer count denoising steps by calls of the DiT: a pipeline that runs the conditional
# and unconditional passes apart (Wan, HunyuanVideo's true CFG) calls it twice a step, which would mix the
# two passes' states, so there they need guidance off.
PER_CALL_STEP_CACHES = ("MagCache", "MagCache (calibrate)", "TaylorSeer")
# FasterCache reuses the unconditional half of a batched classifier-free-guidance pass: only pipelines that
# batch the two (Family.batched_cfg; Wan runs them as separate passes) can use it.
# Caches whose hooks ask the pipeline for the current timestep.
NEEDS_TIMESTEP = ("PyramidAttentionBroadcast", "FasterCache")


@dataclass(frozen=True)
class DVStepCacheSpec:
    name: str
    settings: tuple[tuple[str, Any], ...]
    tensor_format: str = "BCFHW"  # how the DiT receives latents (CogVideoX: BFCHW); FasterCache reads it

    def config(self, current_timestep, num_inference_steps: int) -> Any:
        import diffusers

        class_name, mapping = CACHES[self.name]
        values = dict(self.settings)
        if "mag_ratios" in values:
            values["mag_ratios"] = parse_ratios(values["mag_ratios"])
        kwargs: dict[str, Any] = {}
        for widget, argument in mapping.items():
            if argument.endswith("]"):  # one end of a (start, end) range
                name, index = argument[:-3], int(argument[-2])
                pair = list(kwargs.get(name, (None, None)))
                pair[index] = values[widget]
                kwargs[name] = tuple(pair)
            else:
                kwargs[argument] = values[widget]
        if self.name in NEEDS_TIMESTEP:
            kwargs["current_timestep_callback"] = current_timestep
        if self.name == "FasterCache":
            kwargs["tensor_format"] = self.tensor_format
        if self.name.startswith("MagCache"):
            kwargs["num_inference_steps"] = num_inference_steps
            kwargs["calibrate"] = self.name == "MagCache (calibrate)"
        if self.name == "TaylorSeer":
            kwargs["cache_identifiers"] = TAYLORSEER_MODULES
        return getattr(diffusers, class_name)(**kwargs)


def parse_ratios(text: str) -> list[float]:
    """The ratios MagCache's calibration prints ("[1.0, 0.98, ...]" or comma-separated), as floats."""
    cleaned = text.replace("[", " ").replace("]", " ").replace("tensor(", " ").replace(")", " ")
    return [float(part) for part in cleaned.replace(",", " ").split()]


def check_fits(model: DVModel, name: str, settings: dict[str, Any] | None = None) -> None:
    from diffusers.models.cache_utils import CacheMixin

    if name not in CACHES:
        raise DVInputError("cache", f"unknown cache '{name}'.", ", ".join(CACHES))
    if not isinstance(model.module, CacheMixin):
        raise DVInputError("model", f"diffusers' step caches hook into DiTs; {model.family.label}'s "
                           f"{type(model.module).__name__} has no cache support.",
                           "a CogVideoX, Wan, LTX-Video, HunyuanVideo or Mochi model.")
    if name == "FasterCache" and not model.family.batched_cfg:
        raise DVInputError("cache", f"FasterCache needs a pipeline that batches classifier-free guidance; "
                           f"{model.family.label} runs the two passes apart.",
                           "FirstBlockCache or PyramidAttentionBroadcast.")
    used = CACHES[name][1]
    if "timestep_start" in used and "timestep_end" in used and settings is not None:
        start, end = settings.get("timestep_start", 100), settings.get("timestep_end", 800)
        if not start < end:  # diffusers caches only while start < timestep < end: none would ever be cached
            raise DVInputError("timestep_start", f"the window {start}-{end} is "
                               f"{'empty' if start == end else 'reversed'}, so {name} would never act.",
                               "timestep_start below timestep_end (diffusers' defaults: 100 and 800).")
    if name == "MagCache":
        text = str((settings or {}).get("mag_ratios", "")).strip()
        try:
            ratios = parse_ratios(text)
        except ValueError:
            ratios = []
        if not ratios:
            raise DVInputError("mag_ratios", "MagCache needs this model's magnitude ratios"
                               + (f" ('{text[:40]}' is not a list of numbers)." if text else ", and none are set."),
                               "run once with 'MagCache (calibrate)' and paste the ratios it logs here.")
    if name in ("FirstBlockCache", "MagCache", "MagCache (calibrate)"):
        import torch

        # The block lists the hook itself walks (a private name: a rename there shows up in the tests).
        from diffusers.hooks._common import _ALL_TRANSFORMER_BLOCK_IDENTIFIERS

        blocks = sum(len(child) for child_name, child in model.module.named_children()
                     if isinstance(child, torch.nn.ModuleList) and child_name in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS)
        if blocks < 2:  # the hook needs a first block to test and a last one to reuse
            raise DVInputError("cache", f"{name} needs a DiT with 2 or more blocks; this one has "
                               f"{blocks}.", "another cache, or a full-size model.")


@contextlib.contextmanager
def applied(model: DVModel, current_timestep, guidance_scale: float,
            num_inference_steps: int) -> Iterator[None]:
    """The model's step cache installed for the duration (and reset: no state leaks between runs)."""
    spec: DVStepCacheSpec | None = model.step_cache
    if spec is None:
        yield
        return
    if spec.name == "FasterCache" and guidance_scale <= 1.0:
        raise DVInputError("guidance_scale", "FasterCache works on the guidance batch, and guidance is off.",
                           "a guidance_scale above 1, or another cache.")
    if spec.name in PER_CALL_STEP_CACHES and guidance_scale > 1.0 and not model.family.batched_cfg:
        raise DVInputError("guidance_scale", f"{spec.name} counts steps by calls of the transformer, and "
                           f"{model.family.label} makes two calls a step with guidance on.",
                           f"guidance_scale 1 with {spec.name}, or FirstBlockCache/PyramidAttentionBroadcast.")
    module = model.module
    if module.is_cache_enabled:  # left over from a run that died mid-way: start clean
        module.disable_cache()
    module.enable_cache(spec.config(current_timestep, num_inference_steps))
    try:
        yield
    finally:
        module.disable_cache()
