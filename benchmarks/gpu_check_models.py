"""What benchmarks/gpu_check.py measures, shared by its single-GPU part and its multi-GPU part
(gpu_check_parallel.py, also the program torchrun starts on every rank): the families' cases (sizes, seed,
steps), the frames' tolerance, the released modules built from their published configs with seeded random
values, the release lookup, the image processor fitted to the encoder, and the report's small text helpers.

A plain module beside the scripts (benchmarks/ is on sys.path when they run, it is not a package): both import
it, it imports neither.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from diffusers_video.memory.released import Release
    from parity import Shot

PROMPT, NEGATIVE = "a red fox runs through the snow at night, cinematic", "blurry, low quality"
SEED, STEPS = 11, 2
# Frames within this of diffusers' count as the same: fp32 is the test suite's parity tolerance; in 16 bits the
# graph and the pipeline run the same kernels on the same inputs, so they agree far closer than this.
TOLERANCE = {"fp32": 1e-5, "reduced": 2e-2}


@dataclasses.dataclass(frozen=True)
class Case:
    """One family's run: the tiny model its tokenizers and scheduler come from, the sizes and the family's
    own inputs (sampler extras, reference-pipeline arguments)."""

    family: str
    tiny: str  # tiny_models builder id
    guidance: float
    max_len: int  # released run; tiny_max_len for --tiny
    frames: int
    tiny_size: tuple[int, int]  # width, height
    tiny_max_len: int | None = None
    size: tuple[int, int] = (256, 256)
    prompt: bool = True
    image: bool = False  # image-to-video: a picture for the sampler and the pipeline

    def shot(self, tiny: bool) -> Shot:
        from parity import Shot

        width, height = self.tiny_size if tiny else self.size
        max_len = (self.tiny_max_len or self.max_len) if tiny else self.max_len
        return Shot(width, height, self.frames, STEPS, self.guidance, SEED,
                    prompt=PROMPT if self.prompt else None, negative=NEGATIVE, max_len=max_len)


CASES: dict[str, Case] = {case.family: case for case in (
    Case("modelscope", "modelscope", 9.0, 77, 8, (64, 48)),
    Case("animatediff", "sd15", 7.5, 77, 8, (32, 32)),
    Case("svd", "svd", 3.0, 0, 6, (64, 48), prompt=False, image=True),
    Case("i2vgenxl", "i2vgenxl", 9.0, 77, 4, (64, 48), image=True),
    Case("cogvideox", "cogvideox", 6.0, 226, 9, (64, 48)),
    Case("wan", "wan", 5.0, 512, 9, (64, 48)),
    Case("ltx", "ltx", 3.0, 128, 9, (64, 32)),
    Case("mochi", "mochi", 4.5, 256, 7, (64, 48), tiny_max_len=32),
    Case("hunyuanvideo", "hunyuanvideo", 6.0, 256, 9, (64, 48), tiny_max_len=32),
)}


# ------------------------------------------------------------------------------------- building modules


def module_class(library: str, class_name: str) -> type:
    if library not in ("diffusers", "transformers"):
        raise ValueError(f"unknown library {library!r} for {class_name}")
    return getattr(importlib.import_module(library), class_name)


def build_empty(library: str, class_name: str, config: dict[str, Any]) -> torch.nn.Module:
    """The module with its parameters on the meta device and its buffers as the constructor computed them
    (memory/released.py's build_on_meta puts buffers on meta too, which would leave position ids and rotary
    tables as garbage once materialised)."""
    from accelerate import init_empty_weights

    cls = module_class(library, class_name)
    with init_empty_weights(include_buffers=False):
        if library == "diffusers":
            return cls.from_config(dict(config))
        return cls(cls.config_class.from_dict(dict(config)))


def materialise(module: torch.nn.Module, device: torch.device, dtype: torch.dtype, seed: int) -> torch.nn.Module:
    """Real storage for every meta parameter, on `device` in `dtype` (tied parameters stay tied), filled in
    place: weights normal with std 1/sqrt(fan in), norms' scales 1 and shifts 0, other 1-D parameters
    normal(0, 0.02). A diffusers module's floating buffers take `dtype` as from_pretrained's .to(dtype) gives
    them; a transformers module keeps its buffers' dtypes (it builds them so)."""
    import torch

    cast_buffers = type(module).__module__.startswith("diffusers")
    made: dict[int, Any] = {}
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is None:
                continue
            if id(param) not in made:
                target = dtype if param.is_floating_point() else param.dtype
                made[id(param)] = torch.nn.Parameter(torch.empty(param.shape, dtype=target, device=device),
                                                     requires_grad=False)
            sub._parameters[name] = made[id(param)]
        for name, buffer in list(sub._buffers.items()):
            if buffer is None:
                continue
            target = dtype if cast_buffers and buffer.is_floating_point() else buffer.dtype
            if buffer.is_meta:
                sub._buffers[name] = torch.zeros(buffer.shape, dtype=target, device=device)
            else:
                sub._buffers[name] = buffer.to(device=device, dtype=target)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            if not param.is_floating_point():
                continue
            if param.dim() >= 2:
                param.normal_(0.0, param[0].numel() ** -0.5, generator=generator)
            else:
                param.normal_(0.0, 0.02, generator=generator)
        for sub in module.modules():
            if "Norm" in type(sub).__name__:
                for name, param in sub.named_parameters(recurse=False):
                    if param.is_floating_point():
                        param.fill_(1.0 if name == "weight" else 0.0)
    return module.eval()


def built(library: str, class_name: str, config: dict[str, Any], dtype: torch.dtype, seed: int) -> torch.nn.Module:
    """build_empty + materialise: on the GPU when there is one and it has room (fast), else on the CPU; then
    parked on the CPU."""
    import torch
    from diffusers_video import host

    device = host.torch_device()
    if device.type == "cuda":
        try:
            return materialise(build_empty(library, class_name, config), device, dtype, seed).to("cpu")
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
    return materialise(build_empty(library, class_name, config), torch.device("cpu"), dtype, seed)


def module_config(module: torch.nn.Module) -> tuple[str, str, dict[str, Any]]:
    """(library, class name, config dict) of a loaded module, to build it again (--tiny)."""
    if type(module).__module__.startswith("transformers"):
        return "transformers", type(module).__name__, module.config.to_dict()
    return "diffusers", type(module).__name__, dict(module.config)


def release_for(family: str, name: str | None = None) -> Release:
    from diffusers_video.memory.released import RELEASES, by_name

    if name:
        return by_name(name)
    return next(r for r in RELEASES if r.family == family)


def fitted_image_processor(comps: dict[str, Any]) -> None:
    """The tiny image processor crops to the tiny image encoder's size: made to crop to this encoder's."""
    encoder, processor = comps.get("image_encoder"), comps.get("feature_extractor")
    if encoder is None or processor is None:
        return
    size = int(encoder.config.image_size)
    processor.crop_size = {"height": size, "width": size}
    processor.size = {"shortest_edge": size}


# ------------------------------------------------------------------------------------------- output


def tail(text: str, lines: int = 12) -> str:
    kept = [line for line in (text or "").splitlines() if line.strip() and "it/s]" not in line]
    return "\n".join(kept[-lines:])


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.1f}"
