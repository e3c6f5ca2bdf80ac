"""diffusers' context parallelism on a DV model's denoisers, checked first and in DV words.

diffusers ships the engine (ContextParallelConfig, the `_cp_plan` a transformer declares, Ulysses and ring
attention over a device mesh); this module only decides whether a model can take it and wires it in.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import DVInputError
from ..families.spec import Family
from . import group

MODES = ("ulysses", "ring", "auto")
# Which input a refusal names: dv-run has one flag for all; DVParallel has model, degree and mode inputs.
CLI_INPUTS = {"model": "parallel", "degree": "parallel", "mode": "parallel"}


def has_plan(denoiser_class: type) -> bool:
    """Whether diffusers knows how to split this denoiser's sequence (it declares a `_cp_plan`)."""
    return bool(getattr(denoiser_class, "_cp_plan", None))


def supported_families() -> list[str]:
    """Labels of the families whose denoiser class declares a plan, for messages."""
    import diffusers

    from ..families import all_families

    names = []
    for family in all_families():
        if not family.context_parallel_refusal and any(
                has_plan(getattr(diffusers, cls, None)) for cls in family.model_classes):
            names.append(family.label)
    return names


def resolved_mode(mode: str, heads: int, degree: int, backend: str, names: Mapping[str, str] = CLI_INPUTS) -> str:
    """The attention split a request runs as, or a DVInputError naming the input `parallel`.

    Ulysses sends each rank 1/degree of the heads, so the heads must divide; ring passes key/value blocks round
    and merges them by their log-sum-exp, which only the CUDA attention kernels return (none of the CPU ones)."""
    if mode not in MODES:
        raise DVInputError(names["mode"], f"'{mode}'.", ", ".join(MODES))
    if mode == "auto":
        mode = "ulysses" if heads % degree == 0 else "ring"
    if mode == "ring" and backend != "nccl":
        raise DVInputError(names["mode"], "ring attention needs an attention kernel that returns the log-sum-exp, "
                           "which the CPU backends do not have.", "ulysses (or ring on CUDA GPUs).")
    if mode == "ulysses" and heads % degree:
        divisors = [d for d in range(2, heads + 1) if heads % d == 0]
        raise DVInputError(names["degree"], f"Ulysses gives each of {degree} ranks an equal share of the model's "
                           f"{heads} attention heads, and {degree} does not divide {heads}.",
                           f"a degree among {divisors[:6]}, or ring on CUDA GPUs.")
    return mode


def sequence_length(config: Mapping[str, Any], latent_frames: int, latent_height: int, latent_width: int) -> int:
    """Tokens the denoiser attends over for a latent of this size (its patch size applied)."""
    patch = config.get("patch_size", 1)
    patch_t = config.get("patch_size_t", 1) or 1
    if isinstance(patch, (tuple, list)) and len(patch) == 3:
        patch_t, ph, pw = patch
    elif isinstance(patch, (tuple, list)):
        ph, pw = patch
    else:
        ph = pw = int(patch)
    return math.ceil(latent_frames / patch_t) * (latent_height // ph) * (latent_width // pw)


def check(denoiser_class: type | None, config: Mapping[str, Any], family: Family | None, ranks: group.Ranks,
          latent_shape: tuple[int, int, int] | None, names: Mapping[str, str] = CLI_INPUTS) -> str:
    """Refuse what cannot run context-parallel (no plan, a family that says it fails, heads or sequence the
    degree does not divide, ring without CUDA); the mode it runs as otherwise. latent_shape None: the sequence
    is not known yet."""
    family_label = family.label if family else config.get("_class_name", "?")
    if family is not None and family.context_parallel_refusal:
        raise DVInputError(names["model"], f"{family_label} cannot run split over ranks: "
                           f"{family.context_parallel_refusal}.",
                           "a model of " + ", ".join(supported_families())
                           + ", or a run on one device (no --parallel, no DVParallel).")
    if denoiser_class is None or not has_plan(denoiser_class):
        name = getattr(denoiser_class, "__name__", config.get("_class_name", "?"))
        raise DVInputError(names["model"], f"{family_label} ({name}) has no context-parallel plan in diffusers, so "
                           "one video cannot be split over several ranks.",
                           "a model of " + ", ".join(supported_families())
                           + ", or a run on one device (no --parallel, no DVParallel).")
    heads = int(config.get("num_attention_heads", 0) or 0)
    mode = resolved_mode(ranks.mode, heads or ranks.degree, ranks.degree, ranks.backend, names)
    if latent_shape is None:
        return mode
    tokens = sequence_length(config, *latent_shape)
    if tokens % ranks.degree:
        raise DVInputError(names["degree"], f"the video is {tokens} tokens long for the denoiser, which {ranks.degree} "
                           "ranks cannot share equally.",
                           f"a size or frame count whose token count divides by {ranks.degree}.")
    return mode


@contextlib.contextmanager
def _one_device_per_rank_on_cpu() -> Iterator[None]:
    """diffusers' enable_parallelism picks the rank's device as `rank % torch.accelerator.device_count()`, which
    divides by zero on a CPU-only machine. Every CPU rank's device is the CPU, so for the call's duration the
    count is one; on machines with an accelerator nothing changes."""
    import torch

    if torch.accelerator.device_count() > 0:
        yield
        return
    plain = torch.accelerator.device_count
    torch.accelerator.device_count = lambda: 1
    try:
        yield
    finally:
        torch.accelerator.device_count = plain


_meshes: dict[tuple, Any] = {}  # (process group, mode, degree) -> mesh: sub-groups are made once per group


def mesh(mode: str, ranks: group.Ranks) -> Any:
    """The ("ring", "ulysses") device mesh of this group, made once per group and mode."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    ring, ulysses = (ranks.degree, 1) if mode == "ring" else (1, ranks.degree)
    key = (dist.group.WORLD, mode, ranks.degree)
    if key not in _meshes:
        _meshes.clear()  # meshes of a destroyed group are of no further use
        device_type = "cuda" if ranks.backend == "nccl" else "cpu"
        # A mesh dimension over every rank reuses the default group, so the run's collectives keep its timeout.
        _meshes[key] = init_device_mesh(device_type, (ring, ulysses), mesh_dim_names=("ring", "ulysses"))
    return _meshes[key]


def enable(module: Any, mode: str, ranks: group.Ranks) -> None:
    """Turn diffusers' context parallelism on for this denoiser, for one run (`disable` turns it off again, so
    the loaded model is unchanged for plain runs and a later process group)."""
    import torch
    from diffusers import ContextParallelConfig

    ring, ulysses = (ranks.degree, 1) if mode == "ring" else (1, ranks.degree)
    config = ContextParallelConfig(ring_degree=ring, ulysses_degree=ulysses, mesh=mesh(mode, ranks))
    with _one_device_per_rank_on_cpu(), torch.no_grad():
        module.enable_parallelism(config=config)


def disable(module: Any) -> None:
    """Undo `enable`: diffusers' hooks removed (its own remove_context_parallel), the attention processors and
    the model told there is no parallel config (diffusers has no public call for these two)."""
    from diffusers.hooks.context_parallel import remove_context_parallel

    remove_context_parallel(module, module._cp_plan)
    for sub in module.modules():
        processor = getattr(sub, "processor", None)
        if processor is not None and getattr(processor, "_parallel_config", None) is not None:
            processor._parallel_config = None
    module._parallel_config = None


@contextlib.contextmanager
def applied(expert: Any, width: int, height: int, num_frames: int) -> Iterator[None]:
    """DVSampler, per denoiser (a DVModel.experts() view): in a parallel run, checked and split over the
    ranks; a plain run passes through."""
    ranks = group.current()
    if ranks is None or ranks.degree == 1:  # a plain run, or one seed per rank
        yield
        return
    geometry = expert.geometry
    latent = ((num_frames - 1) // geometry.temporal + 1, height // geometry.spatial, width // geometry.spatial)
    module = expert.module
    enable(module, check(type(module), dict(module.config), expert.family, ranks, latent), ranks)
    try:
        yield
    finally:
        disable(module)
