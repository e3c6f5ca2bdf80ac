"""LoRAs on a family's DiT or UNet, through diffusers' own loaders (format conversion and peft injection).

A LoRA never changes the loaded model for other branches of the graph: DVLoraLoader only reads and checks
the file and returns a new DV_MODEL that lists it; the adapters are injected into the shared module once
(cached under a name derived from the file and its modification time) and switched on, at the listed
strengths, only while a sampler runs that model. Every other run sees them disabled, which peft makes
exactly the base model.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..errors import DVInputError
from .components import WIRES_WITH_LORAS, DVModel


@dataclass(frozen=True, eq=False)
class DVLora:
    adapter_name: str
    label: str  # the file name, for messages
    strength: float
    state_dict: dict[str, Any]  # diffusers format, already filtered to the model's keys
    network_alphas: dict[str, float] | None
    expert: str = ""  # the denoiser it goes into ("transformer_2": Wan2.2's low-noise expert); "" every one

    def targets(self, role: str) -> bool:
        return not self.expert or self.expert == role


def _lora_pipeline_class(model: DVModel):
    """The family's pipeline class that knows its LoRA formats (diffusers converts kohya, original, ...)."""
    import diffusers

    for name in model.family.pipeline_classes.values():
        cls = getattr(diffusers, name, None)
        if cls is not None and hasattr(cls, "lora_state_dict"):
            return cls
    return None


def _supports_peft(module: Any) -> bool:
    from diffusers.loaders.peft import PeftAdapterMixin

    return isinstance(module, PeftAdapterMixin)


def read_lora(input_name: str, model: DVModel, path: str, strength: float, expert: str = "") -> DVLora:
    """Read a LoRA file for this model (every denoiser, or the one named by `expert`), or say why it does
    not fit: by the layers it targets and their shapes, never by a version in its name."""
    label = os.path.basename(path)
    denoisers = model.denoisers()
    if expert and expert not in denoisers:
        raise DVInputError("expert", f"this {model.family.label} model has no '{expert}' "
                           f"(it has {', '.join(denoisers)}).",
                           "'all' for a model with one denoiser; the high- or low-noise expert for a two-expert "
                           "model (Wan2.2 A14B).")
    pipeline_cls = _lora_pipeline_class(model)
    if pipeline_cls is None or not _supports_peft(model.module):
        raise DVInputError("model", f"diffusers has no LoRA support for {model.family.label} "
                           f"({type(model.module).__name__}).",
                           "a model of a family with LoRA support: CogVideoX, Wan, AnimateDiff, LTX-Video, "
                           "HunyuanVideo, Mochi.")
    try:
        loaded = pipeline_cls.lora_state_dict(path)
    except Exception as error:  # noqa: BLE001 - the converters raise many types; the user needs one message
        raise DVInputError(input_name, f"'{label}' could not be read as a {model.family.label} LoRA "
                           f"({type(error).__name__}: {error}).",
                           "a LoRA .safetensors in a format diffusers converts for this family.") from error
    state_dict, network_alphas = (loaded if isinstance(loaded, tuple) else (loaded, None))[:2]
    prefix = getattr(pipeline_cls, "transformer_name", None) or getattr(pipeline_cls, "unet_name", None)
    ours = {k: v for k, v in state_dict.items() if k.startswith(f"{prefix}.")}
    if not ours:
        targets = sorted({k.split(".", 1)[0] for k in state_dict})
        raise DVInputError(input_name, f"'{label}' has no weights for the {model.family.label} {prefix} "
                           f"(it targets: {', '.join(targets) or 'nothing'}).",
                           f"a LoRA trained on the {model.family.label} {prefix}.")
    # Layers and shapes the LoRA targets, checked here so a LoRA of another model fails at this node, not
    # mid-run: a Wan2.1 14B LoRA fits the Wan2.2 A14B experts (same layers, same sizes), a 1.3B one does not.
    for role, managed in denoisers.items():
        if expert and role != expert:
            continue
        _check_fits(input_name, label, model, role, managed.module, ours, prefix)
    skipped = len(state_dict) - len(ours)
    if skipped:
        import logging

        # The text-encoder half of SD1.5 LoRAs: DVTextEncode has no LoRA input yet, so it is left out, loudly.
        logging.getLogger(__name__).warning("DVLoraLoader: %s: %d tensors for other components than the %s are not "
                                            "applied", label, skipped, prefix)
    # Named by file and modification time: re-wiring the same file reuses the injected adapter, an edited
    # file is injected afresh.
    digest = hashlib.sha256(f"{os.path.abspath(path)}:{os.path.getmtime(path)}".encode()).hexdigest()[:12]
    return DVLora(f"dv_{digest}", label, float(strength), ours, network_alphas, expert)


def _check_fits(input_name: str, label: str, model: DVModel, role: str, module: Any, ours: dict[str, Any],
                prefix: str) -> None:
    layers = dict(module.named_modules())
    where = f"this {type(module).__name__}" + (f" ({role})" if len(model.denoisers()) > 1 else "")
    targets = {k[len(prefix) + 1:].split(".lora_")[0] for k in ours if ".lora_" in k}
    missing = sorted(targets - set(layers))
    if targets and len(missing) == len(targets):
        raise DVInputError(input_name, f"'{label}' is for another model: none of its {len(targets)} layers "
                           f"(e.g. {missing[0]}) exist in {where}.",
                           f"a LoRA trained on this {model.family.label} model.")
    for key, tensor in ours.items():
        layer_name, _, rest = key[len(prefix) + 1:].partition(".lora_")
        weight = getattr(layers.get(layer_name), "weight", None)
        if weight is None or weight.dim() < 2 or not hasattr(tensor, "shape"):
            continue
        # lora_A is [rank, in features], lora_B is [out features, rank]; the layer's weight is [out, in, ...].
        side, expected = (1, weight.shape[1]) if rest.startswith("A") else (0, weight.shape[0])
        if rest[:1] in "AB" and tensor.dim() >= 2 and tensor.shape[side] != expected:
            raise DVInputError(input_name, f"'{label}' does not fit {where}: its {layer_name} has "
                               f"{'inputs' if side else 'outputs'} {tensor.shape[side]}, the model's {expected}.",
                               f"a LoRA trained on a {model.family.label} model of this size.")


def _adapters_in_use(module: Any, model: DVModel) -> set[str]:
    """The adapter names of `module` that this run or any live wire (components.WIRES_WITH_LORAS) uses."""
    names = {lora.adapter_name for lora in model.loras}
    for wire in list(WIRES_WITH_LORAS):
        for expert in wire.experts():
            if expert.module is module:
                names.update(lora.adapter_name for lora in expert.loras)
    return names


def with_lora(model: DVModel, lora: DVLora) -> DVModel:
    """A new DV_MODEL: this model plus one more LoRA (they stack in wiring order)."""
    return replace(model, loras=(*model.loras, lora))


@contextlib.contextmanager
def applied(model: DVModel) -> Iterator[None]:
    """The model's LoRAs switched on at their strengths for the duration; other runs see them off."""
    module = model.module
    has_adapters = _supports_peft(module) and bool(getattr(module, "_hf_peft_config_loaded", False))
    if not model.loras and not has_adapters:
        yield
        return
    loaded = set(getattr(module, "peft_config", {}) or {})
    unused = loaded - _adapters_in_use(module, model)
    if unused:  # no wire names them any more: their weights would stay in memory (and in the manager's size)
        module.delete_adapters(sorted(unused))
        loaded -= unused
        model.managed.size_changed()
    pipeline_cls = _lora_pipeline_class(model)
    prefix = getattr(pipeline_cls, "transformer_name", None) or getattr(pipeline_cls, "unet_name", None)
    for lora in model.loras:
        if lora.adapter_name in loaded:
            continue
        try:
            module.load_lora_adapter(dict(lora.state_dict), prefix=prefix, adapter_name=lora.adapter_name,
                                     network_alphas=lora.network_alphas)
        except Exception as error:  # noqa: BLE001 - shape mismatches and peft errors: one message
            if lora.adapter_name in (getattr(module, "peft_config", None) or {}):
                module.delete_adapters(lora.adapter_name)  # a half-injected adapter must not be reused
            raise DVInputError("model", f"the LoRA '{lora.label}' does not fit this {model.family.label} "
                               f"model ({type(error).__name__}: {error}).",
                               "a LoRA trained on this model (same size and layers).") from error
        loaded.add(lora.adapter_name)
        model.managed.size_changed()  # the adapter's weights count in what the manager loads and evicts
    if not model.loras:
        module.disable_lora()
        yield
        return
    strengths: dict[str, float] = {}
    for lora in model.loras:  # the same file twice: the strengths add up, as two patches would
        strengths[lora.adapter_name] = strengths.get(lora.adapter_name, 0.0) + lora.strength
    names = list(strengths)
    module.enable_lora()
    module.set_adapters(names, [strengths[n] for n in names])
    try:
        yield
    finally:
        module.disable_lora()
