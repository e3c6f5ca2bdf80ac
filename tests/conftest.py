"""Shared fixtures: tiny offline models of each family in a models folder of their own."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("DV_PROGRESS", "0")  # no tqdm bars in test output
# Parity is claimed for fp32 on the CPU: the graph and the reference pipeline (which runs where it was loaded,
# the CPU) must not split across devices on a machine that has a GPU.
os.environ.setdefault("DV_DEVICE", "cpu")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # shared helpers such as example_runs


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory):
    """A models folder (ComfyUI's layout) with the tiny CogVideoX as models/diffusers/tiny-cogvideox;
    DV_MODELS_DIR points at it for the session, as the host seam reads it outside ComfyUI."""
    from diffusers_video.tiny_models.cache import install_into_models_dir

    models = str(tmp_path_factory.mktemp("models"))
    install_into_models_dir(models, "cogvideox", "tiny-cogvideox")
    previous = os.environ.get("DV_MODELS_DIR")
    os.environ["DV_MODELS_DIR"] = models
    yield models
    if previous is None:
        os.environ.pop("DV_MODELS_DIR", None)
    else:
        os.environ["DV_MODELS_DIR"] = previous


@pytest.fixture(scope="session")
def tiny_cogvideox_path(tiny_models_dir):
    return os.path.join(tiny_models_dir, "diffusers", "tiny-cogvideox")
