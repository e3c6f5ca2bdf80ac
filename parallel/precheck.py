"""A parallel run's workflow checked from the models' config files, before any weight loads.

Each DVSampler's model is followed up to its loader; the denoiser's class says whether diffusers has a
context-parallel plan for it, its config the attention heads and patch size, the sampler's widgets the
sequence length. Models from single files (no config to read) are checked by DVSampler, still before the
first step.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import DVInputError
from . import context, group

LOADERS = ("DVPipelineLoader", "DVModelLoader")


def _upstream_loader(prompt: dict[str, Any], node_id: str) -> tuple[str, dict[str, Any]] | None:
    """The loader a DV_MODEL wire starts at, through the nodes that pass a model on (LoRA, offload, ...)."""
    seen = set()
    while node_id not in seen and node_id in prompt:
        seen.add(node_id)
        node = prompt[node_id]
        if node["class_type"] in LOADERS:
            return node_id, node
        link = node["inputs"].get("model")
        if not (isinstance(link, list) and len(link) == 2):
            return None
        node_id = str(link[0])
    return None


def _read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _denoiser_configs(loader: dict[str, Any]) -> list[dict[str, Any]]:
    """The configs of the denoiser(s) a loader node will load, read from its folder (empty: nothing to read)."""
    from .. import host

    name = loader["inputs"].get("model")
    if not isinstance(name, str):
        return []
    folder = host.resolve_in_folder("diffusers", name)
    if not folder or not os.path.isdir(folder):
        return []  # a single file, or a name the loader itself will refuse
    if loader["class_type"] == "DVModelLoader":
        config = os.path.join(folder, "config.json")
        return [_read(config)] if os.path.isfile(config) else []
    index = os.path.join(folder, "model_index.json")
    if not os.path.isfile(index):
        return []
    configs = []
    for sub, spec in _read(index).items():
        if sub in ("transformer", "transformer_2", "unet") and isinstance(spec, list):
            config = os.path.join(folder, sub, "config.json")
            if os.path.isfile(config):
                configs.append(_read(config))
    return configs


def check_prompt(prompt: dict[str, Any], ranks: group.Ranks) -> None:
    """Refuse, naming the DVSampler node, a workflow whose denoisers cannot be split over the ranks."""
    import diffusers

    from ..families import family_for_class
    from ..model_loaders.loading import family_of_choice

    for node_id, node in prompt.items():
        if node.get("class_type") != "DVSampler":
            continue
        link = node["inputs"].get("model")
        found = _upstream_loader(prompt, str(link[0])) if isinstance(link, list) else None
        if found is None:
            continue
        sizes = [node["inputs"].get(k) for k in ("width", "height", "num_frames")]
        loader = found[1]
        resolved = family_of_choice(loader["class_type"], str(loader["inputs"].get("model")))  # with its variant
        for config in _denoiser_configs(loader):
            class_name = config.get("_class_name", "")
            cls = getattr(diffusers, class_name, None)
            family = resolved or family_for_class(class_name)
            latent = None
            if all(isinstance(v, int) for v in sizes) and family is not None:
                width, height, frames = sizes
                g = family.geometry  # the released VAE's; DVSampler checks again with the loaded one
                latent = ((frames - 1) // g.temporal + 1, height // g.spatial, width // g.spatial)
            try:
                context.check(cls, config, family, ranks, latent)
            except DVInputError as error:
                raise error.stamp(f"DVSampler (node {node_id})") from None
