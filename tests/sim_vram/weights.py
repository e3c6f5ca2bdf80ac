"""The weight moves of ComfyUI's ModelPatcher replaced by bookkeeping, for modules that live on the meta device.

The amounts follow what the real methods do to a diffusers module (no comfy.ops layers, so every leaf module
with parameters is moved whole or not at all): a full load when the budget covers the model, otherwise leaf
modules largest first while they fit; a partial unload frees leaf modules smallest first until enough is free.
The same functions stand in for the real patcher's in record.py and for the stand-in's in standin.py, so the
two tiers differ only in the manager's logic, which is what the recorded decisions pin.
"""

from __future__ import annotations

from typing import Any


def leaf_sizes(module: Any) -> list[int]:
    """Bytes of each module holding parameters directly (ModelPatcher._load_list's entries for our modules)."""
    sizes = []
    for sub in module.modules():
        own = list(sub.parameters(recurse=False))
        if own:
            sizes.append(sum(p.numel() * p.element_size() for p in own))
    return sizes


def _leaves(patcher: Any) -> list[int]:
    cached = getattr(patcher.model, "_sim_leaves", None)
    if cached is None:
        cached = leaf_sizes(patcher.model)
        patcher.model._sim_leaves = cached
    return cached


def partially_load(self, device_to, extra_memory=0, force_patch_weights=False) -> int:
    model = self.model
    before = model.model_loaded_weight_memory
    if not model.model_lowvram and before > 0:
        return 0  # loaded whole already
    size = self.model_size()
    if before + extra_memory > size:
        loaded = size
    else:
        budget, loaded = before + extra_memory, 0
        for leaf in sorted(_leaves(self), reverse=True):
            if loaded + leaf < budget:
                loaded += leaf
    model.model_loaded_weight_memory = loaded
    model.model_lowvram = loaded < size
    model.device = device_to
    return loaded - before


def partially_unload(self, device_to, memory_to_free=0) -> int:
    model = self.model
    freed = 0
    for leaf in sorted(_leaves(self)):
        if memory_to_free < freed or freed >= model.model_loaded_weight_memory:
            break
        freed += leaf
    freed = min(freed, model.model_loaded_weight_memory)
    model.model_loaded_weight_memory -= freed
    model.model_lowvram = True
    return freed


def detach(self, unpatch_all=True):
    self.model.model_loaded_weight_memory = 0
    self.model.model_lowvram = False
    self.model.device = self.offload_device
    return self.model
