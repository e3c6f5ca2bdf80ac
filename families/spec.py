"""What a video model family is made of and what it can produce, as data, and the contract its module keeps.

Each family module (families/<id>.py) defines one `FAMILY` of these and the functions of `FamilyGlue`
beside it. Modules import diffusers inside functions, so importing the pack stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class FrameRule:
    """Frame counts a family can produce: multiple * k + offset, k >= 0 (the VAE's temporal compression)."""

    multiple: int
    offset: int = 1
    minimum: int = 1

    def is_valid(self, n: int) -> bool:
        return n >= self.minimum and (n - self.offset) % self.multiple == 0

    def nearest(self, n: int) -> list[int]:
        """The valid counts just below and just above n (one of them if n is below the minimum)."""
        k = (n - self.offset) // self.multiple
        below = self.multiple * k + self.offset
        above = below + self.multiple
        return [c for c in (below, above) if c >= self.minimum]

    def describe(self) -> str:
        if self.multiple == 1:
            return f"any count >= {self.minimum}"
        examples = ", ".join(str(self.multiple * k + self.offset) for k in range(1, 5))
        return f"{self.multiple}k+{self.offset} frames ({examples}, ...)"


# Option kinds that are wires, not widgets: an options node shows them as optional inputs (a last frame, a
# mask, reference images), so a family's extra conditioning needs no new DVSampler socket.
WIRE_KINDS = ("IMAGE", "MASK")


@dataclass(frozen=True)
class OptionSpec:
    """One family extra for DVSampler, shown as a widget (or, for WIRE_KINDS, an optional input) on the
    family's options node.

    `name` is the diffusers pipeline argument it becomes, so the widget and the docs line up.
    """

    name: str
    kind: str | tuple[str, ...]  # "INT", "FLOAT", "BOOLEAN", a WIRE_KINDS type, or the choices of a combo
    default: Any
    tooltip: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    # An option added to an options node that has shipped: an optional widget (with its default), so saved API
    # prompts without it still validate (tests/node_contract.json holds every shipped node's required inputs).
    optional: bool = False

    @property
    def is_wire(self) -> bool:
        return isinstance(self.kind, str) and self.kind in WIRE_KINDS

    def input_spec(self) -> tuple:
        if self.is_wire:
            return (self.kind, {"tooltip": self.tooltip})
        options: dict[str, Any] = {"default": self.default, "tooltip": self.tooltip}
        for key, value in (("min", self.minimum), ("max", self.maximum), ("step", self.step)):
            if value is not None:
                options[key] = value
        return (list(self.kind) if isinstance(self.kind, tuple) else self.kind, options)


@dataclass(frozen=True)
class LatentGeometry:
    """How pixel space maps to latent space for one VAE."""

    spatial: int
    temporal: int
    channels: int
    scaling_factor: float


@dataclass(frozen=True)
class Variant:
    """A release within a family whose config differs in what the nodes must know (Wan2.1 vs Wan2.2 A14B vs
    TI2V-5B). `detect` reads the model's own configs, never file names: a mapping with "pipeline" (the
    non-component entries of model_index.json), "denoiser" and "vae" (component configs), each present only
    where the loader has it. `overrides` are Family fields this release changes (label, size_multiple,
    frame_rule, geometry, comfy_latent_format, defaults, ...)."""

    id: str
    detect: Callable[[Mapping[str, Any]], bool]
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    id: str
    label: str
    pipeline_classes: dict[str, str]  # task -> diffusers pipeline class name
    model_classes: tuple[str, ...]
    vae_classes: tuple[str, ...]
    text_encoder_classes: tuple[str, ...]
    frame_rule: FrameRule
    size_multiple: int  # width and height must be multiples of this (VAE factor x patch size)
    geometry: LatentGeometry  # the released models' VAE; loaders replace it with the loaded VAE's own
    comfy_latent_format: str | None = None  # comfy.latent_formats class for previews, where ComfyUI has one
    flow_matching: bool = False  # flow-matching models take FlowMatch schedulers; DDPM-style ones the others
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    order: int = 100  # position in listings (the order of the diffusers video guides)
    options: tuple[OptionSpec, ...] = ()  # family extras; they get an options node named options_node
    options_node: str = ""  # e.g. "DVSVDOptions" (a public node id: never rename once shipped)
    variants: tuple[Variant, ...] = ()  # releases whose configs differ; the first that matches applies
    variant: str = ""  # the id of the variant this spec was resolved to ("" for the family as a whole)
    schedulers: Mapping[str, str] = field(default_factory=dict)  # DVScheduler choices of this family's own
    single_file_types: Mapping[str, str] = field(default_factory=dict)  # diffusers' single-file model type -> class
    single_file_vae_keys: Mapping[str, str] = field(default_factory=dict)  # a key only this VAE has -> class
    # A key only this DiT has -> its single-file model type, for files diffusers' detection cannot name (it knows
    # some models only at their released widths).
    single_file_model_keys: Mapping[str, str] = field(default_factory=dict)
    # Original-layout key part -> the name diffusers' converter must see, for keys that the converter diffusers
    # maps this family's class to (another family's) does not know: applied before it runs.
    single_file_key_renames: Mapping[str, str] = field(default_factory=dict)
    vae_geometry: Callable[[Mapping[str, Any], LatentGeometry], LatentGeometry] | None = None  # VAE config reader
    batched_cfg: bool = False  # the pipeline runs guidance's two passes as one batch (FasterCache needs it)
    hidden_layout: str = "BCFHW"  # the denoiser's input layout, for step caches that look at it
    takes_control: bool = False  # ControlNet video and Text2Video-Zero run on this family's UNet
    # The multiple of width and height the pipeline's check_inputs demands whatever the loaded VAE (diffusers
    # hard-codes it: 8 for most, 16 or 32 for some), so a size it would refuse is refused first, in DV words.
    pipeline_size_multiple: int = 8
    # (single file's meta tensors, loaded as a second expert) -> why the Hub config diffusers would pick for it
    # is the wrong release, or None: such files need a local config folder.
    single_file_hub_refusal: Callable[[Mapping[str, Any], bool], str | None] | None = None
    # Precision on a GPU (memory/precision.py): role ("denoiser", "vae", "text_encoder", "image_encoder", or
    # "*" for every other) -> "fp32" / "bf16" / "fp16" / "auto", where the family's diffusers guide or model
    # card loads a component in a dtype of its own (Wan's VAE in fp32); unnamed roles get bf16, else fp16.
    component_dtypes: Mapping[str, str] = field(default_factory=dict)
    # The denoiser overflows to NaN/inf in fp16: "auto" gives it fp32 where bf16 is missing, and an fp16 choice
    # is loaded with a warning.
    fp16_overflows: bool = False
    # Why this family's denoiser, though diffusers declares a context-parallel plan for it, cannot run split over
    # ranks with the installed diffusers ("" where it can): parallel runs refuse it with this reason.
    context_parallel_refusal: str = ""

    def resolved(self, configs: Mapping[str, Any]) -> Family:
        """This family as the variant the configs show (itself when it has none that matches)."""
        for variant in self.variants:
            if variant.detect(configs):
                return replace(self, variant=variant.id, **dict(variant.overrides))
        return self

    def variant_specs(self) -> tuple[Family, ...]:
        """The family as each of its variants, for listings (the editor's frame/size help)."""
        return tuple(replace(self, variant=v.id, **dict(v.overrides)) for v in self.variants) or (self,)

    def load_glue(self) -> FamilyGlue:
        """The family's module (families/<id>.py), which drives its diffusers pipelines."""
        return importlib.import_module(f"{__package__}.{self.id}")  # type: ignore[return-value]


@runtime_checkable
class FamilyGlue(Protocol):
    """What a family module provides besides FAMILY: how the nodes drive the family's diffusers pipelines.

    Errors are DVInputError(input, problem, valid) without a node: the node boundary stamps its own id.
    """

    FAMILY: Family
    DEFAULT_SCHEDULER: Any  # DVSchedulerSpec: used when neither the folder nor DVScheduler gives one

    def sample(self, model: Any, scheduler: Any, params: Any, inputs: Any) -> dict[str, Any]:
        """DVSampler: a LATENT dict ("samples" [B, C, F, H, W], "dv_family") through the pipeline's __call__."""

    def decode(self, vae: Any, latent: dict[str, Any], settings: Any) -> Any:
        """DVVAEDecode: IMAGE [F, H, W, 3] exactly as the pipeline decodes."""
