"""The family registry: what each video model family is made of and what it can produce.

One entry per family. Everything family-specific that is plain data lives here (class names used for
detection, frame and size rules, defaults from the model cards); the glue that drives the family's diffusers
pipeline lives in one module named by `glue` and is imported only when a node first needs it, so importing
the pack stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class OptionSpec:
    """One family extra for DVSampler, shown as a widget on the family's options node.

    `name` is the diffusers pipeline argument it becomes, so the widget and the docs line up.
    """

    name: str
    kind: str | tuple[str, ...]  # "INT", "FLOAT", "BOOLEAN", or the choices of a combo
    default: Any
    tooltip: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    def input_spec(self) -> tuple:
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
    glue: str  # module (relative to this package's parent) with encode/sample/decode for the family
    comfy_latent_format: str | None = None  # comfy.latent_formats class for previews, where ComfyUI has one
    flow_matching: bool = False  # flow-matching models take FlowMatch schedulers; DDPM-style ones the others
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    order: int = 100  # position in listings (the order of the diffusers video guides)
    options: tuple[OptionSpec, ...] = ()  # family extras; they get an options node named options_node
    options_node: str = ""  # e.g. "DVSVDOptions" (a public node id: never rename once shipped)

    def load_glue(self):
        return importlib.import_module(f"..samplers.{self.glue}", __package__)


def _discover() -> tuple[Family, ...]:
    """Every module in family_specs/ defines one FAMILY: adding a family is adding a module there."""
    import pkgutil

    from . import family_specs

    found = []
    for info in sorted(pkgutil.iter_modules(family_specs.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{family_specs.__name__}.{info.name}")
        found.append(module.FAMILY)
    return tuple(sorted(found, key=lambda fam: fam.order))


FAMILIES: tuple[Family, ...] = _discover()


def by_id(family_id: str) -> Family:
    for fam in FAMILIES:
        if fam.id == family_id:
            return fam
    raise KeyError(family_id)


def family_for_class(class_name: str) -> Family | None:
    """The family a diffusers class name belongs to (a pipeline, model, VAE or text encoder class).

    A class several families share (AutoencoderKL) answers with the first; loaders ask the folder's
    model_index.json first for that reason."""
    for fam in FAMILIES:
        if (
            class_name in fam.pipeline_classes.values()
            or class_name in fam.model_classes
            or class_name in fam.vae_classes
        ):
            return fam
    return None


def task_for_pipeline(class_name: str) -> str | None:
    for fam in FAMILIES:
        for task, name in fam.pipeline_classes.items():
            if name == class_name:
                return task
    return None
