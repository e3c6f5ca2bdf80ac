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

    def load_glue(self):
        return importlib.import_module(f"..samplers.{self.glue}", __package__)


COGVIDEOX = Family(
    id="cogvideox",
    label="CogVideoX",
    pipeline_classes={"t2v": "CogVideoXPipeline"},
    model_classes=("CogVideoXTransformer3DModel",),
    vae_classes=("AutoencoderKLCogVideoX",),
    text_encoder_classes=("T5EncoderModel",),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.15258426),
    glue="cogvideox",
    comfy_latent_format=None,  # ComfyUI 0.3.64 has no CogVideoX latent format: no previews
    defaults={
        "num_frames": 49,
        "fps": 8,
        "steps": 50,
        "guidance_scale": 6.0,
        "width": 720,
        "height": 480,
        "max_sequence_length": 226,
    },
    notes="CogVideoX 1.5 pads an odd number of latent frames to its temporal patch size; the padding is "
    "generated and dropped before decoding.",
)

FAMILIES: tuple[Family, ...] = (COGVIDEOX,)


def by_id(family_id: str) -> Family:
    for fam in FAMILIES:
        if fam.id == family_id:
            return fam
    raise KeyError(family_id)


def family_for_class(class_name: str) -> Family | None:
    """The family a diffusers class name belongs to (a pipeline, model, VAE or text encoder class)."""
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
