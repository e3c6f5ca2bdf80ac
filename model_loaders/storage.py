"""How the denoiser's (and text encoder's) weights are stored: as loaded, fp8 with layerwise casting, or
bitsandbytes 4-bit.

How each cooperates with ComfyUI's memory manager: the ModelPatcher that wraps a module measures it from its
parameters when it is registered (host.ManagedModule), which happens after these are applied, so an fp8 or
4-bit model is accounted at its stored size and ComfyUI loads and evicts it as such. Layerwise casting
upcasts one layer at a time in its forward hooks, so peak memory grows by one layer, not by the model.
bitsandbytes 4-bit weights live on the GPU where they were quantized: ComfyUI may not move them to the CPU,
so they stay loaded until /free or an unload (bitsandbytes' own limitation).
"""

from __future__ import annotations

from typing import Any

from ..errors import DVInputError

STORAGE = ["as dtype", "fp8_e4m3fn", "fp8_e5m2", "nf4 (bitsandbytes, CUDA)"]
STORAGE_INPUT = (STORAGE, {
    "default": "as dtype",
    "tooltip": "How the DiT/UNet weights are stored. fp8: half of bf16, upcast layer by layer to dtype while "
    "computing (diffusers' layerwise casting). nf4: bitsandbytes 4-bit for the DiT and text encoder (CUDA "
    "only).",
})
FP8 = {"fp8_e4m3fn": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2"}


def check(storage: str, input_name: str = "weights") -> None:
    if storage not in STORAGE:
        raise DVInputError(input_name, f"unknown storage '{storage}'.", ", ".join(STORAGE))
    if storage.startswith("nf4"):
        import importlib.util

        import torch

        if not torch.cuda.is_available():
            raise DVInputError(input_name, "bitsandbytes 4-bit needs a CUDA GPU, and none is available.",
                               "'as dtype' or an fp8 storage (they work on any device).")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise DVInputError(input_name, "bitsandbytes 4-bit needs the bitsandbytes package.",
                               "pip install bitsandbytes in ComfyUI's Python, or another storage.")


def quantization_config(storage: str, library: str, compute_dtype) -> Any | None:
    """The from_pretrained quantization_config for a component of `library`, or None."""
    if not storage.startswith("nf4"):
        return None
    module = __import__(library)  # diffusers and transformers each have their own BitsAndBytesConfig
    return module.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                     bnb_4bit_compute_dtype=compute_dtype)


def apply_after_load(module: Any, storage: str, compute_dtype) -> Any:
    """fp8 storage with layerwise casting on a loaded diffusers model (diffusers keeps norms, embeddings and
    the patch/positional layers in the compute dtype)."""
    if storage in FP8:
        import torch

        module.enable_layerwise_casting(storage_dtype=getattr(torch, FP8[storage]), compute_dtype=compute_dtype)
    return module
