"""A stand-in for the part of ComfyUI's comfy.model_management (0.3.64) and ModelPatcher that decides what is
loaded and evicted, for the simulated-VRAM tier in CI, where no ComfyUI is installed.

It is a transcription of load_models_gpu, free_memory and LoadedModel at that version, reduced to the paths a
diffusers module takes (no lowvram patches, no clones, no hooks). It must reproduce record.py's decisions from the
real module exactly (tests/test_sim_vram.py compares them); where ComfyUI changes, the live tier's re-recording
shows the difference.
"""

from __future__ import annotations

import sys
import types
import weakref
from enum import Enum

import torch

from . import weights

GB = 1024**3


class VRAMState(Enum):
    DISABLED = 0
    NO_VRAM = 1
    LOW_VRAM = 2
    NORMAL_VRAM = 3
    HIGH_VRAM = 4
    SHARED = 5


OOM_EXCEPTION = torch.OutOfMemoryError
MIN_WEIGHT_MEMORY_RATIO = 0.4
DISABLE_SMART_MEMORY = False
lowvram_available = True
vram_state = VRAMState.NORMAL_VRAM
EXTRA_RESERVED_VRAM = 400 * 1024 * 1024
current_loaded_models: list = []
TOTAL = 24 * GB
DEVICE = torch.device("cuda", 0)


def get_torch_device():
    return DEVICE


def get_total_memory(dev=None, torch_total_too=False):
    return (TOTAL, TOTAL) if torch_total_too else TOTAL


def get_free_memory(dev=None, torch_free_too=False):
    used = sum(lm.model.loaded_size() for lm in current_loaded_models if lm.model is not None)
    free = TOTAL - used
    return (free, 0) if torch_free_too else free


def unet_offload_device():
    return DEVICE if vram_state == VRAMState.HIGH_VRAM else torch.device("cpu")


def intermediate_device():
    return torch.device("cpu")


def should_use_bf16(device=None, *args, **kwargs):
    return True


def soft_empty_cache(force=False):
    pass


def extra_reserved_memory():
    return EXTRA_RESERVED_VRAM


def minimum_inference_memory():
    return (1024 * 1024 * 1024) * 0.8 + extra_reserved_memory()


def module_size(module):
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


def cleanup_models_gc():
    pass


def cleanup_models():
    pass


def is_device_cpu(device):
    return getattr(device, "type", "") == "cpu"


class LoadedModel:
    def __init__(self, model):
        self._model = weakref.ref(model)
        self.device = model.load_device
        self.real_model = None
        self.currently_used = True
        self.model_finalizer = None

    @property
    def model(self):
        return self._model()

    def model_memory(self):
        return self.model.model_size()

    def model_loaded_memory(self):
        return self.model.loaded_size()

    def model_offloaded_memory(self):
        return self.model.model_size() - self.model.loaded_size()

    def model_memory_required(self, device):
        if device == self.model.current_loaded_device():
            return self.model_offloaded_memory()
        return self.model_memory()

    def model_load(self, lowvram_model_memory=0, force_patch_weights=False):
        use_more_vram = lowvram_model_memory
        if use_more_vram == 0:
            use_more_vram = 1e32
        self.model.partially_load(self.device, use_more_vram, force_patch_weights=force_patch_weights)
        self.real_model = weakref.ref(self.model.model)
        return self.model.model

    def model_unload(self, memory_to_free=None, unpatch_weights=True):
        if memory_to_free is not None:
            if memory_to_free < self.model.loaded_size():
                freed = self.model.partially_unload(self.model.offload_device, memory_to_free)
                if freed >= memory_to_free:
                    return False
        self.model.detach(unpatch_weights)
        self.real_model = None
        return True

    def __eq__(self, other):
        return self.model is other.model

    def is_dead(self):
        return False


def free_memory(memory_required, device, keep_loaded=()):
    unloaded_model = []
    can_unload = []
    unloaded_models = []
    for i in range(len(current_loaded_models) - 1, -1, -1):
        shift_model = current_loaded_models[i]
        if shift_model.device == device and shift_model not in keep_loaded:
            can_unload.append((-shift_model.model_offloaded_memory(), sys.getrefcount(shift_model.model),
                               shift_model.model_memory(), i))
            shift_model.currently_used = False
    for x in sorted(can_unload):
        i = x[-1]
        memory_to_free = None
        if not DISABLE_SMART_MEMORY:
            free_mem = get_free_memory(device)
            if free_mem > memory_required:
                break
            memory_to_free = memory_required - free_mem
        if current_loaded_models[i].model_unload(memory_to_free):
            unloaded_model.append(i)
    for i in sorted(unloaded_model, reverse=True):
        unloaded_models.append(current_loaded_models.pop(i))
    return unloaded_models


def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                    force_full_load=False):
    inference_memory = minimum_inference_memory()
    extra_mem = max(inference_memory, memory_required + extra_reserved_memory())
    if minimum_memory_required is None:
        minimum_memory_required = extra_mem
    else:
        minimum_memory_required = max(inference_memory, minimum_memory_required + extra_reserved_memory())
    models_to_load = []
    for x in set(models):
        loaded_model = LoadedModel(x)
        try:
            index = current_loaded_models.index(loaded_model)
        except ValueError:
            index = None
        if index is not None:
            loaded = current_loaded_models[index]
            loaded.currently_used = True
            models_to_load.append(loaded)
        else:
            models_to_load.append(loaded_model)
    total_memory_required = {}
    for loaded_model in models_to_load:
        total_memory_required[loaded_model.device] = total_memory_required.get(loaded_model.device, 0) + \
            loaded_model.model_memory_required(loaded_model.device)
    for device in total_memory_required:
        if device != torch.device("cpu"):
            free_memory(total_memory_required[device] * 1.1 + extra_mem, device)
    for device in total_memory_required:
        if device != torch.device("cpu"):
            if get_free_memory(device) < minimum_memory_required:
                free_memory(minimum_memory_required, device)
    for loaded_model in models_to_load:
        model = loaded_model.model
        vram_set_state = VRAMState.DISABLED if is_device_cpu(model.load_device) else vram_state
        lowvram_model_memory = 0
        if lowvram_available and vram_set_state in (VRAMState.LOW_VRAM, VRAMState.NORMAL_VRAM) and not force_full_load:
            loaded_memory = loaded_model.model_loaded_memory()
            current_free_mem = get_free_memory(model.load_device) + loaded_memory
            lowvram_model_memory = max(128 * 1024 * 1024, (current_free_mem - minimum_memory_required),
                                       min(current_free_mem * MIN_WEIGHT_MEMORY_RATIO,
                                           current_free_mem - minimum_inference_memory()))
            lowvram_model_memory = max(0.1, lowvram_model_memory - loaded_memory)
        if vram_set_state == VRAMState.NO_VRAM:
            lowvram_model_memory = 0.1
        loaded_model.model_load(lowvram_model_memory, force_patch_weights=force_patch_weights)
        current_loaded_models.insert(0, loaded_model)


class ModelPatcher:
    """ComfyUI's ModelPatcher as far as the manager looks at it; the weight moves are weights.py's."""

    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model = model
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size
        self.parent = None
        if getattr(model, "device", None) is None:
            model.device = offload_device
        for name, value in (("model_loaded_weight_memory", 0), ("lowvram_patch_counter", 0),
                            ("model_lowvram", False)):
            if not hasattr(model, name):
                setattr(model, name, value)

    def model_size(self):
        if self.size > 0:
            return self.size
        self.size = module_size(self.model)
        return self.size

    def loaded_size(self):
        return self.model.model_loaded_weight_memory

    def current_loaded_device(self):
        return self.model.device

    partially_load = weights.partially_load
    partially_unload = weights.partially_unload
    detach = weights.detach


def installed() -> types.ModuleType:
    """This module as `comfy.model_management` and `comfy.model_patcher` in sys.modules (for host.ManagedModule's
    `import comfy.model_patcher`), returned for host._mm."""
    me = sys.modules[__name__]
    comfy = types.ModuleType("comfy")
    comfy.model_management = me
    comfy.model_patcher = me
    sys.modules.setdefault("comfy", comfy)
    sys.modules["comfy.model_patcher"] = me
    return me
