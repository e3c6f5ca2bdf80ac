"""Stopping a run whose latents stop being numbers (NaN or infinite: an fp16 overflow, most often), at the step
where it happens, instead of decoding black frames after the last one."""

from __future__ import annotations

from typing import Any

from ..errors import DVInputError

DTYPE_NAMES = {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}


def _denoiser_dtype(pipe: Any, fallback: Any) -> Any:
    """The dtype the pipeline's DiT or UNet computes in (the latents' own where the pipeline has neither)."""
    for name in ("transformer", "unet"):
        module = getattr(pipe, name, None)
        dtype = getattr(module, "dtype", None)
        if dtype is None and hasattr(module, "parameters"):
            dtype = next((p.dtype for p in module.parameters()), None)
        if dtype is not None:
            return dtype
    return fallback


def check_latents(pipe: Any, step: int, latents: Any) -> None:
    """Raise a DVInputError on the model input when `latents` (after denoising step index `step`) hold NaN or
    infinite values: which step, in which dtype the model ran, and what to change."""
    import torch

    if not torch.is_tensor(latents) or not latents.is_floating_point() or bool(torch.isfinite(latents).all()):
        return
    what = "NaN" if bool(torch.isnan(latents).any()) else "infinite values"
    runs = int(getattr(pipe, "num_timesteps", 0) or 0)
    at = f"step {step + 1} of {runs}" if runs > step else f"step {step + 1}"
    dtype = _denoiser_dtype(pipe, latents.dtype)
    shown = DTYPE_NAMES.get(str(dtype), str(dtype).replace("torch.", ""))
    problem = (f"the latents turned to {what} at {at}, with the model in {shown}: the rest of the run and its "
               "frames would be black.")
    if shown == "fp16":
        valid = ("use bf16 or fp32 for the model (the loader's dtype input; bf16 where the GPU supports it): "
                 "this model overflows in fp16.")
    else:
        valid = ("use bf16 or fp32 for the model (fp32 if it already runs in bf16), and check LoRA strengths, "
                 "guidance_scale and the model file.")
    raise DVInputError("model", problem, valid)
