"""The video model families: one module each (families/<id>.py: its FAMILY spec and the glue that drives its
diffusers pipelines), found by looking here, so adding a family is adding a module.

Discovery runs on first use rather than at import: family modules import the shared drivers, which import
the spec types from here.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from .spec import Family, FamilyGlue, FrameRule, LatentGeometry, OptionSpec

__all__ = ["Family", "FamilyGlue", "FrameRule", "LatentGeometry", "OptionSpec", "all_families", "by_id",
           "family_for_class", "task_for_pipeline"]


@functools.cache
def all_families() -> tuple[Family, ...]:
    """Every module here that defines FAMILY, in the order of the diffusers video guides."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = getattr(module, "FAMILY", None)
        if family is None or getattr(module, "__name__", "").rsplit(".", 1)[-1] != family.id:
            continue  # helpers of a family (text2video_zero) and the spec module
        found.append(family)
    return tuple(sorted(found, key=lambda fam: fam.order))


def __getattr__(name: str):
    if name == "FAMILIES":  # `from ..families import FAMILIES` keeps working, discovered on first use
        return all_families()
    raise AttributeError(name)


def by_id(family_id: str) -> Family:
    for fam in all_families():
        if fam.id == family_id:
            return fam
    raise KeyError(family_id)


def family_for_class(class_name: str) -> Family | None:
    """The family a diffusers class name belongs to (a pipeline, model or VAE class).

    A class several families share (AutoencoderKL) answers with the first; loaders ask the folder's
    model_index.json first for that reason."""
    for fam in all_families():
        if (
            class_name in fam.pipeline_classes.values()
            or class_name in fam.model_classes
            or class_name in fam.vae_classes
        ):
            return fam
    return None


def task_for_pipeline(class_name: str) -> str | None:
    for fam in all_families():
        for task, name in fam.pipeline_classes.items():
            if name == class_name:
                return task
    return None
