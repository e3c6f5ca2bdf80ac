"""Offloading and forward chunking for one model wire, set for the runs of DVSampler that use it.

How each cooperates with ComfyUI's memory manager:
- "ComfyUI decides": on a GPU, the plan of model_loaders/auto_offload.py: a full load when the model fits the
  memory the manager can give, else group offloading as below (chosen by measured sizes, logged in one line).
- "full load": the ModelPatcher loads the model whole to the GPU for the run and ComfyUI evicts it when
  another model needs the room (its usual policy; /free and OOM recovery reach it), whatever the plan says.
- "model offload" (diffusers' enable_model_cpu_offload): the same load, then the model is unloaded through
  the memory manager as soon as the run ends, so the VAE decode that follows has the GPU to itself.
- "group offload" (diffusers' apply_group_offloading, block or leaf level; leaf level without a stream is
  diffusers' recommended replacement for sequential offload): the module stays on the offload device and
  diffusers' hooks bring one group of blocks at a time to the GPU. The memory manager is told not to load it
  whole for that run (ManagedModule.offloaded_to), and the hooks are removed afterwards.
- forward chunking (UNet families): feed-forward layers run in chunks of frames, trading speed for memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from .. import host
from ..errors import DVInputError
from .components import DVModel

OFFLOAD_MODES = ["ComfyUI decides", "full load", "model offload", "group offload: block_level",
                 "group offload: leaf_level"]


@dataclass(frozen=True)
class DVOffloadSpec:
    mode: str
    num_blocks_per_group: int = 1
    use_stream: bool = False
    forward_chunk_size: int = 0


def check(model: DVModel, spec: DVOffloadSpec) -> None:
    import torch

    if spec.mode not in OFFLOAD_MODES:
        raise DVInputError("offload", f"'{spec.mode}'.", ", ".join(OFFLOAD_MODES))
    if spec.use_stream and not torch.cuda.is_available():
        raise DVInputError("use_stream", "overlapping transfers with CUDA streams needs a CUDA GPU, and "
                           "none is available.", "use_stream off.")
    if spec.use_stream and spec.mode.startswith("group") and spec.num_blocks_per_group > 1 \
            and spec.mode.endswith("block_level"):
        # diffusers runs streams with one block per group only (it would log a warning and use 1).
        raise DVInputError("num_blocks_per_group", f"{spec.num_blocks_per_group} blocks per group with use_stream; "
                           "diffusers prefetches one block at a time on a stream.",
                           "1 with use_stream, or use_stream off for bigger groups.")
    if spec.use_stream and not spec.mode.startswith("group"):
        raise DVInputError("use_stream", "streams only apply to group offloading.",
                           "a group offload mode, or use_stream off.")
    if spec.forward_chunk_size and not hasattr(model.module, "enable_forward_chunking"):
        raise DVInputError("forward_chunk_size", f"{type(model.module).__name__} ({model.family.label}) has "
                           "no forward chunking.", "0 for this model (UNet families: ModelScope, AnimateDiff, "
                           "SVD, I2VGen-XL).")


@contextlib.contextmanager
def applied(model: DVModel) -> Iterator[None]:
    spec: DVOffloadSpec | None = model.offload
    if spec is None:
        yield
        return
    module = model.module
    with contextlib.ExitStack() as stack:
        if spec.forward_chunk_size:
            # dim=1: the frame axis of the video UNets' feed-forward inputs (diffusers' own recommendation).
            module.enable_forward_chunking(chunk_size=spec.forward_chunk_size, dim=1)
            stack.callback(_disable_forward_chunking, module)
        if spec.mode.startswith("group"):
            stack.enter_context(_group_offloaded(model, spec))
        elif spec.mode == "model offload":
            stack.callback(host.unload, model.managed)
        yield


def _disable_forward_chunking(module) -> None:
    if hasattr(module, "disable_forward_chunking"):
        module.disable_forward_chunking()
    else:  # older UNets only have the setter: None restores the unchunked path
        module.enable_forward_chunking(chunk_size=None, dim=0)


@contextlib.contextmanager
def _group_offloaded(model: DVModel, spec: DVOffloadSpec) -> Iterator[None]:
    from diffusers.hooks import HookRegistry, apply_group_offloading
    from diffusers.hooks.group_offloading import (
        _GROUP_OFFLOADING,
        _LAYER_EXECUTION_TRACKER,
        _LAZY_PREFETCH_GROUP_OFFLOADING,
    )

    module, managed = model.module, model.managed
    # offload_target: the CPU also under --gpu-only, whose offload device is the GPU (nothing would move).
    onload, offload = host.torch_device(), host.offload_target()
    host.unload(managed)  # start from the offload device, wherever an earlier run left it
    offload_type = spec.mode.split(": ")[1]
    options = {"num_blocks_per_group": spec.num_blocks_per_group} if offload_type == "block_level" else {}
    apply_group_offloading(module, onload_device=onload, offload_device=offload, offload_type=offload_type,
                           use_stream=spec.use_stream, **options)
    managed.offloaded_to = onload
    try:
        yield
    finally:
        managed.offloaded_to = None
        registry = HookRegistry.check_if_exists_or_initialize(module)
        for name in (_LAZY_PREFETCH_GROUP_OFFLOADING, _LAYER_EXECUTION_TRACKER, _GROUP_OFFLOADING):
            registry.remove_hook(name, recurse=True)
        module.to(offload)
