"""Options nodes: family extras for DVSampler (SVD's motion_bucket_id, LTX's decode_timestep, ...).

One node per family that declares options in its spec module (families/<id>.py), generated
from that data so adding an extra is one OptionSpec line, and the widget names are the pipeline's own
argument names. Options nodes chain: wire one into another's `options` input to combine them.
"""

from __future__ import annotations

from typing import Any

from ..errors import DVInputError, expect_type, finite_number
from ..families import Family, all_families
from ..families.spec import OptionSpec
from ..model_loaders.components import DVSamplerOptions
from ..samplers.image_input import RESIZE_MODES, check_frames

CATEGORY = "DiffusersVideo/options"


def check_wire(spec: OptionSpec, value: Any) -> None:
    """Refuse what is not the IMAGE or MASK the option's wire takes, by its name, before any work starts."""
    import torch

    if spec.kind == "IMAGE":
        check_frames(spec.name, value)
    elif not isinstance(value, torch.Tensor) or value.ndim not in (2, 3) or not torch.isfinite(value).all():
        raise DVInputError(spec.name, f"got {type(value).__name__} {tuple(getattr(value, 'shape', ()))}"
                           + (" with NaN or infinite values" if isinstance(value, torch.Tensor) else "")
                           + ", which is not a MASK [frames, height, width].",
                           "the MASK output of a mask node (Load Image's mask, a mask editor, a mask from video).")


def _make_options_node(family: Family) -> type:
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - ComfyUI's name
        return {
            "required": {spec.name: spec.input_spec() for spec in family.options
                         if not spec.is_wire and not spec.optional},
            "optional": {
                **{spec.name: spec.input_spec() for spec in family.options if spec.is_wire or spec.optional},
                "options": ("DV_SAMPLER_OPTIONS", {"tooltip": "Options from another options node to combine with."}),
            },
        }

    def build(self, options: DVSamplerOptions | None = None, **values: Any):
        if options is not None:
            expect_type("options", options, DVSamplerOptions, "DV_SAMPLER_OPTIONS")
        for spec in family.options:
            if spec.is_wire:
                if values.get(spec.name) is None:
                    values.pop(spec.name, None)  # an unwired input is no value: the family's default applies
                else:
                    check_wire(spec, values[spec.name])
            elif spec.kind in ("FLOAT", "INT") and spec.name in values:
                number = finite_number(spec.name, values[spec.name], spec.minimum, spec.maximum)
                values[spec.name] = number if spec.kind == "FLOAT" else values[spec.name]
        made = DVSamplerOptions((family.id,), tuple(sorted(values.items())), family.options_node)
        return (made.merged_with(options),)

    return type(
        family.options_node,
        (),
        {
            "DISPLAY_NAME": f"DV {family.label} Options",
            "CATEGORY": CATEGORY,
            "DESCRIPTION": f"{family.label} settings beyond DVSampler's widgets, passed to its diffusers pipeline "
            "under the same names. Wire into DVSampler's options input.",
            "FUNCTION": "build",
            "RETURN_TYPES": ("DV_SAMPLER_OPTIONS",),
            "RETURN_NAMES": ("options",),
            "OUTPUT_TOOLTIPS": (f"{family.label} options for DVSampler.",),
            "INPUT_TYPES": classmethod(INPUT_TYPES),
            "build": build,
            "__module__": __name__,
        },
    )


class DVImageInputOptions:
    DISPLAY_NAME = "DV Image Input Options"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "How an image, video or control frames at another size or aspect are fitted to the video, with "
        "diffusers' own resize modes: default stretches (what the pipelines do by themselves), fill letterboxes, "
        "crop cuts the centre. Works for every family; chain a family's options node into it."
    )
    FUNCTION = "build"
    RETURN_TYPES = ("DV_SAMPLER_OPTIONS",)
    RETURN_NAMES = ("options",)
    OUTPUT_TOOLTIPS = ("Options for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                "resize_mode": (list(RESIZE_MODES), {
                    "default": "default", "tooltip": "default: stretch to width x height, as the pipeline does; "
                    "fill: keep the aspect and pad; crop: keep the aspect and cut the centre."}),
            },
            "optional": {
                "options": ("DV_SAMPLER_OPTIONS", {"tooltip": "Options from another options node to combine with."}),
            },
        }

    def build(self, resize_mode: str, options: DVSamplerOptions | None = None):
        if options is not None:
            expect_type("options", options, DVSamplerOptions, "DV_SAMPLER_OPTIONS")
        if resize_mode not in RESIZE_MODES:
            raise DVInputError("resize_mode", f"'{resize_mode}'.", ", ".join(RESIZE_MODES))
        every = tuple(family.id for family in all_families())
        return (DVSamplerOptions(every, (("resize_mode", resize_mode),), "DVImageInputOptions").merged_with(options),)


NODES = [*(_make_options_node(family) for family in all_families() if family.options), DVImageInputOptions]
