"""A sandbox for bad-input tests (the catalogue and the fuzzer): its own models, input, output and temp folders,
tiny models of a few families (and deliberately broken copies), and a snapshot of every file in it, so a test
can tell that nothing was written outside the output folder.

Every folder the pack reads or writes outside ComfyUI (DV_MODELS_DIR, DV_INPUT_DIR, DV_OUTPUT_DIR, the system
temp folder through TMPDIR and tempfile.tempdir, the Hugging Face cache) points inside the sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# The tiny models installed (name in the models folder -> (builder, kind)).
TINY = {
    "tiny-cogvideox": ("cogvideox", "diffusers"),
    "tiny-cogvideox-i2v": ("cogvideox_i2v", "diffusers"),
    "tiny-svd": ("svd", "diffusers"),
    "tiny-sd15": ("sd15", "diffusers"),
    "tiny-wan": ("wan", "diffusers"),
    "tiny-mochi": ("mochi", "diffusers"),
    "tiny-motion-adapter": ("motion_adapter", "animatediff_models"),
    "tiny-controlnet": ("controlnet", "controlnet"),
    "tiny-ltx_095": ("ltx_095", "diffusers"),
    "tiny-ltx-upsampler": ("ltx_upsampler", "diffusers"),
}
CLIP_W, CLIP_H, CLIP_FRAMES = 64, 48, 9
ANSI = re.compile(r"\x1b\[")


@dataclasses.dataclass
class Sandbox:
    root: str
    models: str
    input: str
    output: str
    tmp: str
    outside: str  # a folder the pack must never read from or write to

    def comfy_temp(self) -> str:
        from diffusers_video import host

        return host.temp_directory()

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every file under the sandbox (symlinks not followed) -> (size, mtime_ns)."""
        found: dict[str, tuple[int, int]] = {}
        for folder, dirs, files in os.walk(self.root):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                path = os.path.join(folder, name)
                try:
                    stat = os.lstat(path)
                except FileNotFoundError:
                    continue
                found[path] = (stat.st_size, stat.st_mtime_ns)
        return found

    def strays(self, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
        """Files that appeared or changed outside the output folder (ComfyUI's temp folder is where previews
        with save_output off belong, so it counts as output too)."""
        allowed = (self.output + os.sep, self.comfy_temp() + os.sep)
        return sorted(path for path, stat in after.items()
                      if before.get(path) != stat and not path.startswith(allowed))

    def partials(self, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
        """New half-written files anywhere (hidden temporary names)."""
        return sorted(path for path in set(after) - set(before)
                      if os.path.basename(path).startswith(".") or ".partial" in os.path.basename(path))


def _write_clip(path: str, frames: int = CLIP_FRAMES, width: int = CLIP_W, height: int = CLIP_H) -> None:
    import av
    import numpy as np

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            array = np.full((height, width, 3), (i * 25) % 255, dtype=np.uint8)
            array[: height // 2, : width // 2, 0] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _copy_model(source: str, target: str) -> str:
    shutil.copytree(os.path.realpath(source), target, symlinks=False)
    return target


def _truncate(path: str, keep: float = 0.5) -> None:
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(int(size * keep))


def _build_broken_models(models: str) -> None:
    """Copies of the tiny CogVideoX and SD1.5 models, each damaged in one way a download or a disk can damage it."""
    diffusers_dir = os.path.join(models, "diffusers")
    cog = os.path.join(diffusers_dir, "tiny-cogvideox")
    weights = "diffusion_pytorch_model.safetensors"

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-truncated"))
    _truncate(os.path.join(broken, "transformer", weights))

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-index"))
    with open(os.path.join(broken, "model_index.json"), "w") as handle:
        handle.write('{"_class_name": "CogVideoXPipeline", "transformer": [')  # cut off mid-way

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-vae-config"))
    with open(os.path.join(broken, "vae", "config.json"), "w") as handle:
        handle.write("{not json")

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-missing-weights"))
    os.remove(os.path.join(broken, "transformer", weights))

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-text-encoder"))
    for name in os.listdir(os.path.join(broken, "text_encoder")):
        if name.endswith(".safetensors"):
            _truncate(os.path.join(broken, "text_encoder", name), 0.3)

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-pickle"))
    import torch
    from safetensors.torch import load_file

    state = load_file(os.path.join(broken, "transformer", weights))
    state["_pickled_object"] = argparse.Namespace(note="a pickle that weights_only=True refuses")
    os.remove(os.path.join(broken, "transformer", weights))
    torch.save(state, os.path.join(broken, "transformer", "diffusion_pytorch_model.bin"))

    broken = _copy_model(cog, os.path.join(diffusers_dir, "broken-empty-weights"))
    open(os.path.join(broken, "vae", weights), "w").close()  # zero bytes

    adapters = os.path.join(models, "animatediff_models")
    broken = _copy_model(os.path.join(adapters, "tiny-motion-adapter"), os.path.join(adapters, "broken-adapter"))
    for name in os.listdir(broken):
        if name.endswith(".safetensors"):
            _truncate(os.path.join(broken, name))

    controlnets = os.path.join(models, "controlnet")
    broken = _copy_model(os.path.join(controlnets, "tiny-controlnet"), os.path.join(controlnets, "broken-controlnet"))
    with open(os.path.join(broken, "config.json"), "w") as handle:
        json.dump({"_class_name": "ControlNetModel", "block_out_channels": "oops"}, handle)


def _build_sandbox(root: str) -> Sandbox:
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from diffusers_video.tiny_models.lora import build_lora
    from diffusers_video.tiny_models.sd15_checkpoint import build_sd15_checkpoint

    box = Sandbox(root, *(os.path.join(root, name) for name in ("models", "input", "output", "tmp", "outside")))
    for folder in (box.models, box.input, box.output, box.tmp, box.outside):
        os.makedirs(folder, exist_ok=True)
    for name, (family, kind) in TINY.items():
        install_into_models_dir(box.models, family, name, kind)
    cog = os.path.join(box.models, "diffusers", "tiny-cogvideox")
    build_lora(cog, os.path.join(box.models, "loras", "cog_lora.safetensors"), seed=1)
    with open(os.path.join(box.models, "loras", "not_a_lora.safetensors"), "wb") as handle:
        handle.write(b"\x00" * 64)
    checkpoint = os.path.join(box.models, "checkpoints", "tiny_sd15.safetensors")
    build_sd15_checkpoint(os.path.join(box.models, "diffusers", "tiny-sd15"), checkpoint)
    shutil.copy(checkpoint, os.path.join(box.models, "checkpoints", "truncated_sd15.safetensors"))
    _truncate(os.path.join(box.models, "checkpoints", "truncated_sd15.safetensors"))
    _build_broken_models(box.models)
    _write_clip(os.path.join(box.input, "clip.mp4"))
    _write_clip(os.path.join(box.outside, "secret.mp4"))
    with open(os.path.join(box.input, "notes.txt"), "w") as handle:
        handle.write("not a video")
    with open(os.path.join(box.input, "fake.mp4"), "wb") as handle:
        handle.write(b"this is not an mp4 file at all")
    return box


_BUILT: dict[str, Sandbox] = {}  # one sandbox per test session, shared by the modules that use it


@contextlib.contextmanager
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    """The sandbox for one test module: built once per session, its environment set for the module's duration
    and restored after."""
    base = str(tmp_path_factory.getbasetemp())
    root = _BUILT[base].root if base in _BUILT else str(tmp_path_factory.mktemp("bad_input_sandbox"))
    with pytest.MonkeyPatch.context() as patch:
        tmp = os.path.join(root, "tmp")
        os.makedirs(tmp, exist_ok=True)
        patch.setenv("DV_MODELS_DIR", os.path.join(root, "models"))
        patch.setenv("DV_INPUT_DIR", os.path.join(root, "input"))
        patch.setenv("DV_OUTPUT_DIR", os.path.join(root, "output"))
        patch.setenv("TMPDIR", tmp)
        patch.setenv("HF_HOME", os.path.join(root, "hf"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("DV_PROGRESS", "0")
        patch.setenv("DV_DISABLE_METADATA", "0")
        patch.delenv("DV_ALLOW_DOWNLOADS", raising=False)
        patch.setattr(tempfile, "tempdir", tmp)
        if base not in _BUILT:
            _BUILT[base] = _build_sandbox(root)
        yield _BUILT[base]


def unservable(name: str) -> list[str]:
    """Characters of a written file name that make it unsafe to show or serve: controls (newline, NUL, escape),
    format characters (right-to-left override, zero-width), line and paragraph separators, lone surrogates.
    Unassigned and private-use code points are valid UTF-8 names and pass."""
    import unicodedata

    return [f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


def declared_inputs(cls: type) -> set[str]:
    types = cls.INPUT_TYPES()
    return {*types.get("required", {}), *types.get("optional", {})}


def check_dv_error(error: BaseException, class_type: str, input_name: str | set[str],
                   contains: str | None = None, echoed: tuple = ()) -> None:
    """A DVInputError that names this node and this input, with a non-empty 'Valid:' text, no terminal colour
    codes of its own (`echoed`: the strings the node was given, which a message may quote), and (where given) a
    message matching `contains`."""
    from diffusers_video import NODE_CLASS_MAPPINGS
    from diffusers_video.errors import DVInputError

    assert isinstance(error, DVInputError), f"not a DV error: {type(error).__name__}: {error}"
    wanted = {input_name} if isinstance(input_name, str) else input_name
    assert error.input_name in wanted, f"names input {error.input_name!r}, expected {sorted(wanted)}: {error}"
    assert error.input_name in declared_inputs(NODE_CLASS_MAPPINGS[class_type]), error.input_name
    assert error.node == class_type, f"names node {error.node!r}, expected {class_type}: {error}"
    assert error.valid and error.valid.strip(), f"no 'Valid:' text: {error}"
    text = str(error)
    assert text.startswith(f"{class_type}: input '{error.input_name}'") and "Valid: " in text, text
    own = text
    for value in sorted((v for v in echoed if isinstance(v, str) and v), key=len, reverse=True):
        own = own.replace(value, "")
    assert not ANSI.search(own), f"terminal colour codes in the message: {text!r}"
    if contains:
        assert re.search(contains, text, re.I | re.S), f"{contains!r} not in: {text}"
