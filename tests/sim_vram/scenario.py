"""One simulated render per (released model, GPU budget, ComfyUI memory flag): text encode, sample, decode, driven
through the pack's own host seam (host.load_to_device, host.gpu_budget, model_loaders/auto_offload.choose) against
whichever memory manager is wired in (the real comfy.model_management in record.py, standin.py in CI).

What is recorded, per scenario: the plan (mode, blocks per group, streams, predicted peak) or the error, and every
load and unload the manager made, in order, with the bytes it left on the GPU."""

from __future__ import annotations

import functools
from typing import Any

import torch

GB = 10**9  # budgets are the GPU boxes' sizes (8, 12, 16, 24, 48, 80 GB)
BUDGETS = (8, 12, 16, 24, 48, 80)
FLAGS = ("normal", "lowvram", "novram", "highvram", "gpu-only", "reserve-vram=4")
FLAG_BUDGET = 24  # every flag other than "normal" is recorded at this budget
STATES = {"normal": "NORMAL_VRAM", "lowvram": "LOW_VRAM", "novram": "NO_VRAM", "highvram": "HIGH_VRAM",
          "gpu-only": "HIGH_VRAM", "reserve-vram=4": "NORMAL_VRAM"}  # ComfyUI's cli flag -> its VRAMState


def cases() -> list[tuple[str, int, str]]:
    from diffusers_video.memory.released import RELEASES

    out = []
    for release in RELEASES:
        out += [(release.name, budget, "normal") for budget in BUDGETS]
        out += [(release.name, FLAG_BUDGET, flag) for flag in FLAGS if flag != "normal"]
    return out


@functools.cache
def modules(release_name: str) -> dict[str, Any]:
    """The release's components on the meta device, each in the dtype "auto" picks on a bf16 GPU."""
    from diffusers_video.families import by_id
    from diffusers_video.memory import precision
    from diffusers_video.memory.released import build_on_meta, by_name

    release = by_name(release_name)
    family = by_id(release.family)
    built = {}
    for component in release.components:
        module = build_on_meta(component).eval()
        role = precision.role_of(component.role, component.role in release.denoisers)
        dtype, _ = precision.component_dtype(family, role, "auto", torch.device("cuda"), bf16_supported=True)
        built[component.role] = in_dtype(module, dtype)
    if "motion_adapter" in built:  # the pack runs AnimateDiff as one UNetMotionModel (DVApplyMotionAdapter)
        from diffusers import UNetMotionModel

        with torch.device("meta"):
            built["unet"] = UNetMotionModel.from_unet2d(built["unet"], built.pop("motion_adapter"))
    return built


def in_dtype(module: Any, dtype: torch.dtype) -> Any:
    """The module cast as from_pretrained(torch_dtype=...) leaves it: the modules the class keeps in fp32 stay
    there (Wan's norms and time embedder). nn.Module.to, because diffusers' own `to` warns about exactly that."""
    torch.nn.Module.to(module, dtype)
    keep = getattr(module, "_keep_in_fp32_modules", None) or ()
    for name, sub in module.named_modules():
        if keep and any(part in keep for part in name.split(".")):
            torch.nn.Module.to(sub, torch.float32)
    return module


def reset(mm: Any, total_gb: int, flag: str) -> None:
    """A fresh GPU of `total_gb` with ComfyUI's state for `flag`, nothing loaded."""
    mm.current_loaded_models.clear()
    mm.vram_state = mm.VRAMState[STATES[flag]]
    reserve = flag.partition("=")[2]
    mm.EXTRA_RESERVED_VRAM = int(float(reserve) * 1024**3) if reserve else 400 * 1024 * 1024
    mm.SIM_TOTAL = total_gb * GB


def run(mm: Any, release_name: str, total_gb: int, flag: str) -> dict[str, Any]:
    from diffusers_video import host
    from diffusers_video.errors import DVInputError
    from diffusers_video.families import by_id
    from diffusers_video.memory.estimate import decode_bytes
    from diffusers_video.memory.released import by_name
    from diffusers_video.model_loaders import auto_offload
    from diffusers_video.model_loaders.components import DVModel, geometry_from_config

    release = by_name(release_name)
    reset(mm, total_gb, flag)
    built = modules(release_name)
    managed = {role: host.ManagedModule(module, f"{release_name}/{role}") for role, module in built.items()}
    roles = {id(m.patcher): role for role, m in managed.items()}
    events: list[list[Any]] = []
    mm.SIM_EVENTS = (events, roles)

    configs = {"denoiser": dict(built[release.denoisers[0]].config)}
    if "vae" in built:
        configs["vae"] = dict(built["vae"].config)
    family = by_id(release.family).resolved(configs)
    geometry = geometry_from_config(configs["vae"], family) if "vae" in configs else family.geometry
    first, *rest = [role for role in release.denoisers if role in built]
    model = DVModel(managed=managed[first], family=family, geometry=geometry, source=release_name, role=first,
                    more_denoisers={role: managed[role] for role in rest})
    encoders = [managed[r] for r in managed if r.startswith(("text_encoder", "image_encoder"))]
    host.load_to_device(encoders)  # DVTextEncode (and the image encoder of I2V families)
    events.append(["encoded"])
    w, h, f = release.default_width, release.default_height, release.default_frames
    working = auto_offload.working_bytes(model, w, h, f, 5.0)
    try:
        plan = auto_offload.choose(model, working)
    except DVInputError as error:
        return {"plan": {"error": str(error)}, "working": working, "events": canonical(events)}
    denoisers = list(model.denoisers().values())
    with host.working_memory(denoisers, working):
        if plan.offloads:
            for m in denoisers:  # group offloading starts from the offload device (offload._group_offloaded)
                host.unload(m)
        elif len(denoisers) > 1:
            for m in denoisers:  # experts load as each starts to run (samplers/pipeline.denoisers_loaded)
                host.load_to_device([m])
        else:
            host.load_to_device(denoisers)
    events.append(["sampled"])
    latent = (1, geometry.channels, *auto_offload.latent_shape(model, w, h, f)[1:])
    with host.working_memory([managed["vae"]], decode_bytes(latent, geometry.spatial, geometry.temporal, 0, 256)):
        host.load_to_device([managed["vae"]])  # DVVAEDecode, tiled (its "auto" on a GPU)
    return {"plan": {"mode": plan.mode, "blocks": plan.num_blocks_per_group, "stream": plan.use_stream,
                     "peak": plan.peak}, "working": working, "events": canonical(events),
            "line": plan.line}


def canonical(events: list[list[Any]]) -> list[list[Any]]:
    """Loads made by one load_models_gpu call come in the order of a set of patchers (by id): sorted here, so
    a run's record does not depend on addresses. Evictions come in the manager's own sorted order and stay."""
    out: list[list[Any]] = []
    run: list[list[Any]] = []
    for event in [*events, ["end"]]:
        if event[0] == "load":
            run.append(event)
            continue
        out += sorted(run)
        run = []
        if event[0] != "end":
            out.append(event)
    return out


def instrument(mm: Any) -> None:
    """Record every load and unload of the manager (real or stand-in) into mm.SIM_EVENTS, and make its free and
    total memory the simulated GPU's: the budget less what is loaded."""
    loaded_model = mm.LoadedModel
    original_load, original_unload = loaded_model.model_load, loaded_model.model_unload

    def role(self) -> str:
        return mm.SIM_EVENTS[1].get(id(self.model), "?")

    def model_load(self, lowvram_model_memory=0, force_patch_weights=False):
        out = original_load(self, lowvram_model_memory, force_patch_weights=force_patch_weights)
        mm.SIM_EVENTS[0].append(["load", role(self), int(self.model.loaded_size())])
        return out

    def model_unload(self, memory_to_free=None, unpatch_weights=True):
        whole = original_unload(self, memory_to_free, unpatch_weights)
        mm.SIM_EVENTS[0].append(["unload", role(self), int(self.model.loaded_size())])
        return whole

    def free(dev=None, torch_free_too=False):
        used = sum(lm.model.loaded_size() for lm in mm.current_loaded_models if lm.model is not None)
        value = mm.SIM_TOTAL - used
        return (value, 0) if torch_free_too else value

    def total(dev=None, torch_total_too=False):
        return (mm.SIM_TOTAL, mm.SIM_TOTAL) if torch_total_too else mm.SIM_TOTAL

    loaded_model.model_load, loaded_model.model_unload = model_load, model_unload
    mm.get_free_memory, mm.get_total_memory = free, total
    mm.get_torch_device = lambda: torch.device("cuda", 0)
    mm.soft_empty_cache = lambda force=False: None
    mm.should_use_bf16 = lambda *args, **kwargs: True
    mm.SIM_EVENTS = ([], {})
    mm.SIM_TOTAL = 24 * GB


def run_all(mm: Any) -> dict[str, Any]:
    instrument(mm)
    return {f"{name} @ {budget} GB {flag}": run(mm, name, budget, flag) for name, budget, flag in cases()}
