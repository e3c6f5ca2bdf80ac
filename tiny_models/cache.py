"""Building tiny models once and sharing them: by tests, the demo and benchmarks.

A family's builder writes a complete diffusers folder; the cache keys it by the builders' source and the
library versions, builds into a temporary folder and renames it into place, so parallel processes never
see a half-written model and a change of code or library rebuilds it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import os
import pkgutil
import shutil
import tempfile
from collections.abc import Callable


@functools.cache
def builders() -> dict[str, Callable[[str], str]]:
    """Every tiny model: each module here lists what it builds in TINY_MODELS (name -> function), so a new
    family's builder is its own module and nothing else."""
    found: dict[str, Callable[[str], str]] = {}
    for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
        module = importlib.import_module(f"{__package__}.{info.name}")
        for name, function in getattr(module, "TINY_MODELS", {}).items():
            found[name] = getattr(module, function)
    return found


def _builder(family_id: str) -> Callable[[str], str]:
    if family_id not in builders():
        raise KeyError(f"no tiny model for '{family_id}'; known: {', '.join(sorted(builders()))}")
    return builders()[family_id]


def _fingerprint(family_id: str) -> str:
    import diffusers
    import torch
    import transformers

    from . import tokenizers

    parts = [inspect.getsource(inspect.getmodule(_builder(family_id))), inspect.getsource(tokenizers),
             diffusers.__version__, transformers.__version__, torch.__version__.split("+")[0]]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def tiny_model_path(family_id: str = "cogvideox", cache_root: str | None = None) -> str:
    """The folder of the tiny model of a family, built on first use."""
    root = cache_root or os.environ.get("DV_TINY_CACHE") or os.path.join(tempfile.gettempdir(),
                                                                         "diffusers_video_tiny")
    path = os.path.join(root, f"{family_id}-{_fingerprint(family_id)}")
    if any(os.path.isfile(os.path.join(path, marker)) for marker in ("model_index.json", "config.json")):
        return path
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{family_id}-", dir=root)
    try:
        _builder(family_id)(staging)
        try:
            os.rename(staging, path)
        except OSError:  # another process finished first: theirs is the same model
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def install_into_models_dir(models_dir: str, family_id: str = "cogvideox", name: str = "tiny-cogvideox",
                            kind: str = "diffusers") -> str:
    """Make models_dir/<kind>/<name> the tiny model (a symlink; a copy where links are not allowed)."""
    source = tiny_model_path(family_id)
    target = os.path.join(models_dir, kind, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.islink(target) and os.readlink(target) == source:
        return target
    if os.path.islink(target) or os.path.isfile(target):
        os.remove(target)
    elif os.path.isdir(target):
        shutil.rmtree(target)
    try:
        os.symlink(source, target)
    except OSError:
        shutil.copytree(source, target)
    return target
