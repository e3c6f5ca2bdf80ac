"""docs/memory.md, generated from the code that plans memory, so no figure in it is typed by hand.

    python -m diffusers_video.runner.memory_report --write docs/memory.md

Every released model of memory/released.py is built on the meta device and measured: bytes per component per
dtype, the working memory of a run at the model card's size (memory/estimate.py), the predicted peak of each
offload plan (memory/plan.py), the plan chosen on each common card, and beside them the figures the diffusers
guides publish. tests/test_memory_doc.py fails when the file and the code disagree.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GB = 1e9
CARDS = (8, 12, 16, 24, 48, 80)
RESERVE = 400 * 1024 * 1024  # ComfyUI's default --reserve-vram on Linux (EXTRA_RESERVED_VRAM)
BYTES = {"fp32": 4.0, "bf16": 2.0, "fp8": 1.0, "nf4": 0.5}  # nf4: 4 bits plus ~3% of block scales, rounded away


@dataclass(frozen=True)
class GuideFigure:
    """A figure a diffusers guide publishes, and the setting of ours it compares with."""

    release: str
    published: str  # the guide's words
    published_gb: float  # the figure the guide reaches with its optimisations
    source: str
    width: int
    height: int
    frames: int
    plan: str  # the plan of ours that does what the guide does: a plan.candidates mode (+ ", streams")
    weights: str  # the denoiser's storage in the guide: "bf16", "fp16", "nf4"


GUIDES = (
    GuideFigure("Wan2.1-T2V-14B", "about 13 GB with group offloading", 13.0,
                "diffusers Wan pipeline page, memory example (group offload, leaf level, streams; 81 frames)",
                832, 480, 81, "group offload: leaf_level, streams", "bf16"),
    GuideFigure("HunyuanVideo", "60 GB -> 14 GB with 4-bit weights, model offload and VAE tiling", 14.0,
                "diffusers HunyuanVideo pipeline page, memory example (bitsandbytes nf4 transformer, "
                "enable_model_cpu_offload, vae.enable_tiling; 61 frames at 320x512)",
                512, 320, 61, "full load", "nf4"),
    GuideFigure("CogVideoX-2b", "33 GB -> 11 GB with model offload and VAE tiling", 11.0,
                "diffusers CogVideoX pipeline page, memory optimisation (fp16, enable_model_cpu_offload, "
                "vae.enable_tiling; 49 frames at 720x480)",
                720, 480, 49, "full load", "fp16"),
    GuideFigure("SVD-XT", "under 8 GB with model offload, forward chunking and decode_chunk_size", 8.0,
                "diffusers Stable Video Diffusion guide, reduce memory usage (enable_model_cpu_offload, "
                "unet.enable_forward_chunking, decode_chunk_size=2; 25 frames at 1024x576)",
                1024, 576, 25, "full load", "fp16"),
)


def _module_sizes(release: Any) -> dict[str, Any]:
    from ..memory.released import build_on_meta, parameter_count

    out = {}
    for component in release.components:
        module = build_on_meta(component)
        out[component.role] = (component, module, parameter_count(module))
    return out


def _family_and_geometry(release: Any, built: dict[str, Any]):
    from ..families import by_id
    from ..model_loaders.components import geometry_from_config

    configs = {"denoiser": dict(built[release.denoisers[0]][1].config)}
    if "vae" in built:
        configs["vae"] = dict(built["vae"][1].config)
    family = by_id(release.family).resolved(configs)
    geometry = geometry_from_config(configs["vae"], family) if "vae" in configs else family.geometry
    return family, geometry


def _denoiser_sizes(release: Any, built: dict[str, Any], bytes_per_param: float):
    """plan.ModuleSize of each denoiser at a storage width (measured in fp32 on meta, then scaled)."""
    from ..memory.plan import ModuleSize, measure

    scale = bytes_per_param / 4.0
    sizes = []
    modules = {role: built[role][1] for role in release.denoisers}
    if "motion_adapter" in modules:  # the pack runs AnimateDiff as one UNetMotionModel: unet + adapter
        unet, adapter = measure(modules.pop("unet"), "unet"), measure(modules.pop("motion_adapter"), "adapter")
        sizes.append(ModuleSize("unet", unet.total + adapter.total, unet.blocks + adapter.blocks,
                                max(unet.largest_leaf, adapter.largest_leaf)))
    sizes += [measure(module, role) for role, module in modules.items()]
    return [ModuleSize(s.label, int(s.total * scale), tuple(int(b * scale) for b in s.blocks),
                       int(s.largest_leaf * scale)) for s in sizes]


def _working(release: Any, built: dict[str, Any], width: int, height: int, frames: int) -> int:
    from ..memory import estimate

    family, geometry = _family_and_geometry(release, built)
    latent_frames = (frames - 1) // geometry.temporal + 1 if geometry.temporal > 1 else frames
    shape = (geometry.channels, latent_frames, height // geometry.spatial, width // geometry.spatial)
    config = dict(built[release.denoisers[0]][1].config)
    return estimate.working_bytes(config, shape, estimate.cfg_batch(5.0, family.batched_cfg), 2)


def _gb(n: float) -> str:
    return f"{n / GB:.1f}"


def _describe(mode: str, blocks: int, stream: bool) -> str:
    from ..memory.plan import Plan

    return Plan(mode, blocks, stream, 0, "").describe()


def render() -> str:
    from ..memory import plan
    from ..memory.released import RELEASES

    lines = ["# Memory: what each released model needs, and the plan the pack picks", "",
             "Generated by `python -m diffusers_video.runner.memory_report --write docs/memory.md` from "
             "memory/released.py (each model's published config, built on the meta device), memory/estimate.py "
             "and memory/plan.py, the code DVSampler plans with. GB are 10^9 bytes. A card's budget is its size "
             f"less ComfyUI's default reserve ({RESERVE / 2**20:.0f} MiB), with nothing else loaded.", "",
             "These are predictions. `benchmarks/gpu_check.py` measures the peak on a real GPU beside them.", ""]
    measured = {r.name: _module_sizes(r) for r in RELEASES}

    lines += ["## Parameter bytes per component", "",
              "| model | component | class | parameters | fp32 GB | bf16 GB | fp8 GB | nf4 GB |",
              "|---|---|---|---|---|---|---|---|"]
    for release in RELEASES:
        for role, (component, _module, count) in measured[release.name].items():
            cells = " | ".join(_gb(count * width) for width in BYTES.values())
            lines.append(f"| {release.name} | {role} | {component.class_name} | {count / 1e9:.3f}B | {cells} |")
    lines.append("")

    lines += ["## Predicted peak of each plan (bf16 denoiser, the model card's size, guidance on)", "",
              "Working memory: the activations of one forward (memory/estimate.py) with guidance's batch where the "
              "pipeline batches it. Peak: resident weights of the denoiser(s) plus working memory; the text "
              "encoders and the VAE are evicted by ComfyUI's manager before the denoiser runs when they do not fit "
              "beside it.", "",
              "| model | size | working GB | full load | model offload | block, streams | block, no stream "
              "(blocks) | leaf, streams | leaf |", "|---|---|---|---|---|---|---|---|---|"]
    for release in RELEASES:
        built = measured[release.name]
        sizes = _denoiser_sizes(release, built, BYTES["bf16"])
        working = _working(release, built, release.default_width, release.default_height, release.default_frames)
        found = plan.candidates(sizes, working, cuda=True)

        def peak(mode: str, stream: bool | None = None, found=found) -> str:
            rows = [c for c in found if c[0] == mode and (stream is None or c[2] == stream)]
            return _gb(min(c[3] for c in rows)) if rows else "-"

        blocks = [c for c in found if c[0] == plan.BLOCK and not c[2]]
        smallest_blocks = min(blocks, key=lambda c: c[3]) if blocks else None
        block_cell = f"{_gb(smallest_blocks[3])} ({smallest_blocks[1]})" if smallest_blocks else "-"
        lines.append(f"| {release.name} | {release.default_width}x{release.default_height}x{release.default_frames}"
                     f" | {_gb(working)} | {peak(plan.FULL)} | {peak(plan.MODEL_OFFLOAD)} | "
                     f"{peak(plan.BLOCK, True)} | {block_cell} | {peak(plan.LEAF, True)} | {peak(plan.LEAF, False)} |")
    lines.append("")

    lines += ["## The plan chosen on each card", "",
              "| model | " + " | ".join(f"{c} GB" for c in CARDS) + " |", "|---|" + "---|" * len(CARDS)]
    for release in RELEASES:
        built = measured[release.name]
        sizes = _denoiser_sizes(release, built, BYTES["bf16"])
        working = _working(release, built, release.default_width, release.default_height, release.default_frames)
        cells = []
        for card in CARDS:
            try:
                chosen = plan.choose(release.name, sizes, int(card * GB - RESERVE), working)
                cells.append(f"{chosen.describe()} ({_gb(chosen.peak)})")
            except Exception:  # noqa: BLE001 - the planner's DVInputError: the table says so
                cells.append("does not fit")
        lines.append(f"| {release.name} | " + " | ".join(cells) + " |")
    lines.append("")

    lines += ["## Beside the diffusers guides' figures", "",
              "Ours is the larger of two phases: text encoding (the encoders resident, in 16 bits as the guides "
              "load them) and denoising (the plan's peak: the denoiser's resident weights plus working memory). "
              "Not counted: the VAE decode (DVVAEDecode runs it after the manager has evicted the denoiser, tiled "
              "on a GPU), the CUDA context and allocator slack, which a measured peak (max_memory_allocated) "
              "partly includes.", "",
              "| model | guide | guide GB | our setting | text encode GB | denoise GB | ours / guide | larger phase |",
              "|---|---|---|---|---|---|---|---|"]
    for guide in GUIDES:
        release = next(r for r in RELEASES if r.name == guide.release)
        built = measured[release.name]
        sizes = _denoiser_sizes(release, built, BYTES["bf16" if guide.weights == "fp16" else guide.weights])
        working = _working(release, built, guide.width, guide.height, guide.frames)
        mode, _, streams = guide.plan.partition(", ")
        rows = [c for c in plan.candidates(sizes, working, cuda=True) if c[0] == mode and c[2] == bool(streams)]
        denoise = min(c[3] for c in rows)
        encode = sum(count * BYTES["bf16"] for role, (_c, _m, count) in built.items()
                     if role.startswith(("text_encoder", "image_encoder")))
        ours = max(denoise, encode)
        setting = f"{guide.width}x{guide.height}x{guide.frames}, {guide.weights}, {guide.plan}"
        lines.append(f"| {guide.release} | {guide.published} ({guide.source}) | {guide.published_gb:.0f} | "
                     f"{setting} | {_gb(encode)} | {_gb(denoise)} | {ours / GB / guide.published_gb:.2f} | "
                     f"{'text encode' if encode >= denoise else 'denoise'} |")
    lines.append("")
    return "\n".join(lines)


def write_or_print(render_text: Callable[[], str], description: str, argv: list[str] | None = None) -> int:
    """The command line of a generated document: print it, or --write PATH (docs/memory.md, docs/scaling.md)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--write", metavar="PATH", help="write the report to PATH instead of printing it")
    args = parser.parse_args(argv)
    text = render_text()
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    return write_or_print(render, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
