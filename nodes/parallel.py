"""DVParallel: a model whose sampling is spread over several devices inside one ComfyUI server."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from ..errors import DVInputError, expect_type
from ..model_loaders.components import DVModel

CATEGORY = "DiffusersVideo/speed"


@dataclass(frozen=True)
class DVParallelSpec:
    degree: int
    mode: str
    timeout_s: float


def _backend() -> tuple[str, int]:
    """The collective backend and how many ranks this machine can hold: one per GPU, else CPU processes."""
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return "nccl", torch.cuda.device_count()
    return "gloo", max(2, os.cpu_count() or 2)


class DVParallel:
    DISPLAY_NAME = "DV Parallel (several devices)"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Spreads each video's denoising over several GPUs of this machine with diffusers' context parallelism: "
        "the server and degree-1 worker processes (started on first use, kept for later prompts) each hold the "
        "model and attend over 1/degree of the video's tokens. Frames equal a single-device run. Families whose "
        "transformer has a context-parallel plan that works (Wan2.1/2.2, ChronoEdit, Lucy Edit). On a machine "
        "without GPUs the ranks are CPU processes (for testing). The first run loads the model in every worker."
    )
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model, sampled across the devices by DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "A model of a family with a context-parallel plan (Wan)."}),
                "degree": ("INT", {"default": 2, "min": 2, "max": 64,
                                   "tooltip": "Devices (processes) one video is spread over: this server and "
                                   "degree-1 workers."}),
                "mode": (["ulysses", "ring", "auto"], {
                    "default": "ulysses", "tooltip": "ulysses: each device takes a share of the attention heads "
                    "(the degree must divide them); ring: key/value blocks pass round (CUDA only); auto: ulysses "
                    "where the heads allow."}),
                "timeout_s": ("FLOAT", {"default": 600.0, "min": 5.0, "max": 86400.0, "step": 5.0,
                                        "tooltip": "How long any exchange between devices may wait: a worker that "
                                        "died fails the prompt after this, instead of hanging it."}),
            },
        }

    def apply(self, model: DVModel, degree: int, mode: str, timeout_s: float):
        from ..errors import finite_number
        from ..parallel import context, group

        expect_type("model", model, DVModel, "a DV_MODEL")
        timeout_s = finite_number("timeout_s", timeout_s, 5.0, 86400.0)
        backend, available = _backend()
        if isinstance(degree, bool) or not isinstance(degree, int) or not 2 <= degree <= available:
            raise DVInputError("degree", f"{degree} devices asked for; this machine has {available} "
                               f"({'GPUs' if backend == 'nccl' else 'CPU processes allowed'}).",
                               f"a whole number from 2 to {available}.")
        ranks = group.Ranks(0, degree, 0, backend, mode, degree)
        for expert in model.experts():  # before any worker starts or loads a weight
            module = expert.module
            context.check(type(module), dict(module.config), model.family, ranks, None,
                          {"model": "model", "degree": "degree", "mode": "mode"})
        return (replace(model, parallel=DVParallelSpec(degree, mode, timeout_s)),)


NODES = [DVParallel]
