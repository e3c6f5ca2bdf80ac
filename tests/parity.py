"""Parity with diffusers, said once: the node graph DVTextEncode -> DVSampler -> DVVAEDecode must make the frames
the family's diffusers pipeline makes from the same components, inputs and seed.

A family's test module says only what differs: its tiny model (`path, parts = tiny_model_fixtures("mochi")`),
its Shot (the inputs both sides get) and how its reference pipeline is built and called. Running the graph
(graph_frames), running the pipeline (reference_frames) and comparing them (assert_parity) live here.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

PARITY_TOLERANCE = 1e-5  # fp32 on CPU; measured 0.0 for every family: the graph runs the pipelines' own code


@dataclasses.dataclass(frozen=True)
class Shot:
    """The inputs the graph and the reference pipeline are both given. prompt None: a family without text
    (Stable Video Diffusion), so no DVTextEncode and no prompt for the pipeline."""

    width: int
    height: int
    frames: int
    steps: int
    guidance: float
    seed: int
    prompt: str | None = None
    negative: str = ""
    max_len: int = 226

    def but(self, **changes) -> Shot:
        return dataclasses.replace(self, **changes)


def tiny_model_fixtures(family: str, name: str | None = None):
    """Two module fixtures, named as the module names them: the family's tiny model installed in the session's
    models folder as diffusers/<name> (default tiny-<family>; its path), and it loaded by DVPipelineLoader at
    fp32 (model, vae, text_encoder, scheduler). Use: `path, parts = tiny_model_fixtures("mochi")`."""
    name = name or f"tiny-{family}"

    def install(models_dir: str) -> str:
        from diffusers_video.tiny_models.cache import install_into_models_dir

        return install_into_models_dir(models_dir, family, name)

    @pytest.fixture(scope="module")
    def path(tiny_models_dir):
        return install(tiny_models_dir)

    @pytest.fixture(scope="module")
    def parts(tiny_models_dir):
        install(tiny_models_dir)
        return load_parts(name)

    return path, parts


def load_parts(name: str, dtype: str = "fp32"):
    """DVPipelineLoader on models/diffusers/<name>, in inference mode as ComfyUI runs nodes."""
    from diffusers_video.nodes.loaders import DVPipelineLoader

    with torch.inference_mode():
        return DVPipelineLoader().load(name, dtype)


def encode_prompt(parts, shot: Shot):
    """DVTextEncode of the shot's prompt with parts[2] (truncating, as the graphs do); None without a prompt."""
    from diffusers_video.nodes.sampling import DVTextEncode

    if shot.prompt is None:
        return None
    with torch.inference_mode():
        return DVTextEncode().encode(parts[2], shot.prompt, shot.negative, shot.max_len, True)[0]


def sample_latent(parts, shot: Shot, **inputs) -> dict:
    """DVSampler with parts[0] on the shot; the prompt encoded unless a conditioning is given, every other
    sampler input (vae, image, video, scheduler, options) as given."""
    from diffusers_video.nodes.sampling import DVSampler

    if "conditioning" not in inputs:
        inputs["conditioning"] = encode_prompt(parts, shot)
    with torch.inference_mode():
        return DVSampler().sample(parts[0], shot.width, shot.height, shot.frames, shot.steps, shot.guidance,
                                  shot.seed, **inputs)[0]


def decode(parts, latent: dict, chunk: int = 0, tiling: str = "off", tile: int = 0, overlap: float = 0.0):
    """DVVAEDecode with parts[1]: the IMAGE batch [F, H, W, C] in 0..1."""
    from diffusers_video.nodes.vae import DVVAEDecode

    with torch.inference_mode():
        return DVVAEDecode().decode(parts[1], latent, chunk, tiling, tile, overlap)[0]


def graph_frames(parts, shot: Shot, chunk: int = 0, tiling: str = "off", tile: int = 0, overlap: float = 0.0,
                 **inputs) -> torch.Tensor:
    """The whole graph on (model, vae, text_encoder, ...): encode, sample, decode."""
    return decode(parts, sample_latent(parts, shot, **inputs), chunk, tiling, tile, overlap)


def reference_frames(pipe, shot: Shot, output_type: str = "np", **kwargs) -> torch.Tensor:
    """The diffusers pipeline on the shot, seeded with a CPU generator: its frames as a torch tensor [F, H, W, C]
    in 0..1 like the graph's IMAGE (or its latents for output_type="latent"). The shot's values go to the
    pipeline's parameters of the same meaning it has (Stable Video Diffusion takes no prompt or guidance_scale,
    video-to-video no num_frames); kwargs, family-specific, are passed as they are."""
    shared = {"width": shot.width, "height": shot.height, "num_frames": shot.frames,
              "num_inference_steps": shot.steps, "guidance_scale": shot.guidance, "max_sequence_length": shot.max_len}
    if shot.prompt is not None:
        shared |= {"prompt": shot.prompt, "negative_prompt": shot.negative}
    takes = inspect.signature(pipe.__call__).parameters
    pipe.set_progress_bar_config(disable=True)
    out = pipe(**{key: value for key, value in shared.items() if key in takes}, **kwargs,
               generator=torch.Generator("cpu").manual_seed(shot.seed), output_type=output_type)
    return out.frames if output_type == "latent" else torch.from_numpy(out.frames[0])


def assert_parity(frames: torch.Tensor, expected: torch.Tensor, tolerance: float = PARITY_TOLERANCE) -> float:
    """The graph's frames (or latents) are the reference pipeline's within tolerance; returns the measured
    max |diff|. Constant output is refused: it would match trivially."""
    assert frames.shape == expected.shape, f"graph made {tuple(frames.shape)}, pipeline {tuple(expected.shape)}"
    diff = (frames.float() - expected.float()).abs().max().item()
    assert diff <= tolerance, f"graph differs from the reference pipeline: max |diff| {diff:.3g} > {tolerance:g}"
    assert frames.float().std() > 0.01, "constant output: parity would hold trivially"
    return diff


# ------------------------------------------------------------------------------------------- image inputs


def pattern_file(path: str, width: int, height: int, shift: int = 0) -> str:
    """An 8-bit RGB PNG with detail at the pixel scale (a 3-pixel checkerboard, stripes and a ramp), so that
    resizing with another filter shows; `shift` moves it, for the frames of a video. Plain numpy and PIL."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    x = x + shift
    checker = ((x // 3 + y // 3) % 2) * 255
    stripes = (127.5 + 127.5 * np.sin(x * 1.7 + y * 0.9))
    ramp = (x * 255 // max(width - 1, 1)) % 256
    Image.fromarray(np.stack([checker, stripes, ramp], -1).astype(np.uint8)).save(path)
    return path


def image_from_files(paths: list[str]) -> torch.Tensor:
    """IMAGE [N, H, W, 3] in 0..1 from image files, as ComfyUI's LoadImage makes it (RGB / 255)."""
    import numpy as np
    from PIL import Image

    return torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0
                                      for p in paths]))


def independent(reference):
    """Mark a reference as built without the pack: it fails if the function reaches any of the pack's code
    (a bug in a pack helper must show as a parity failure, not hide on both sides)."""
    code = reference.__code__
    names = set(code.co_names) | {c for const in code.co_consts if isinstance(const, str) for c in [const]}
    for name in code.co_names:
        value = reference.__globals__.get(name)
        module = getattr(value, "__module__", "") or (getattr(value, "__name__", "") if inspect.ismodule(value) else "")
        assert not str(module).startswith("diffusers_video"), f"{reference.__name__} uses the pack's {name}"
    assert not any("diffusers_video" in str(n) for n in names), f"{reference.__name__} imports the pack"
    return reference


def as_pil(images: torch.Tensor) -> list:
    """IMAGE frames [N, H, W, 3] (8-bit values) as the PIL images a guide would have loaded, with plain numpy."""
    from PIL import Image

    return [Image.fromarray((frame.clamp(0, 1).numpy() * 255).round().astype("uint8")) for frame in images]
