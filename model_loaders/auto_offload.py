"""The automatic offload plan of a sampler run, and the working memory it declares to the memory manager.

With no DVOffload on the wire (or its "ComfyUI decides"), a run on a GPU measures its denoiser(s), asks the
host how much memory the manager can give, and takes memory/plan.py's fastest plan that fits: the full load
ComfyUI would do anyway, or diffusers' group offloading when the model does not fit. The plan is logged in
one line. DVOffload's explicit modes (full load, model offload, group offload) are used as set. On the CPU
there is nothing to offload to, and nothing is planned.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from .. import host
from ..memory import estimate, plan
from .components import DVModel
from .offload import DVOffloadSpec

log = logging.getLogger("DiffusersVideo")
AUTO = "ComfyUI decides"
_DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8"}


def latent_shape(model: DVModel, width: int, height: int, num_frames: int) -> tuple[int, int, int, int]:
    """[C, F, H, W] of the run's latents from the model's VAE geometry."""
    g = model.geometry
    frames = (num_frames - 1) // g.temporal + 1 if g.temporal > 1 else num_frames
    return g.channels, frames, height // g.spatial, width // g.spatial


def working_bytes(model: DVModel, width: int, height: int, num_frames: int, guidance_scale: float) -> int:
    batch = estimate.cfg_batch(guidance_scale, model.family.batched_cfg)
    dtype_bytes = max(2, model.managed.dtype.itemsize)  # fp8 storage computes in 16 bits
    return estimate.working_bytes(dict(model.module.config), latent_shape(model, width, height, num_frames), batch,
                                  dtype_bytes)


def model_name(model: DVModel) -> str:
    dtype = str(model.managed.dtype).removeprefix("torch.")
    return f"{model.source} {_DTYPE_NAMES.get(dtype, dtype)}"


_MEASURED: dict[int, tuple[Any, plan.ModuleSize]] = {}


def measured(module: Any, label: str) -> plan.ModuleSize:
    """plan.measure, once per module object (its parameters do not change size except through LoRAs, which the
    plan may ignore: a few percent of the weights)."""
    cached = _MEASURED.get(id(module))
    if cached is None or cached[0] is not module:
        cached = (module, plan.measure(module, label))
        _MEASURED[id(module)] = cached
    return cached[1]


def choose(model: DVModel, working: int) -> plan.Plan:
    """The plan for this model on the compute device now (the manager's free memory and evictable models)."""
    sizes = [measured(managed.module, role) for role, managed in model.denoisers().items()]
    device = host.torch_device()
    return plan.choose(model_name(model), sizes, host.gpu_budget(), working, cuda=device.type == "cuda",
                       vram_state=host.vram_state())


@contextlib.contextmanager
def for_run(model: DVModel, width: int, height: int, num_frames: int, guidance_scale: float) -> Iterator[DVModel]:
    """The model to sample with: its working memory declared on each denoiser for the manager, and on a GPU
    without an explicit DVOffload mode, the offload the plan chose. Raises (before any weight moves) when not
    even leaf-level offloading fits."""
    working = working_bytes(model, width, height, num_frames, guidance_scale)
    chosen = model
    explicit = model.offload is not None and model.offload.mode != AUTO
    if host.vram_state() != "disabled" and not explicit:
        picked = choose(model, working)
        log.info("DiffusersVideo plan: %s", picked.line)
        if picked.offloads:
            chunk = model.offload.forward_chunk_size if model.offload is not None else 0
            chosen = replace(model, offload=DVOffloadSpec(picked.mode, picked.num_blocks_per_group, picked.use_stream,
                                                          chunk))
    with host.working_memory(model.denoisers().values(), working):
        yield chosen
