"""Every family at its released size on one CUDA machine: memory against the plan, speed, and frames against
diffusers, unattended, in one report.

    python benchmarks/gpu_check.py [--out benchmarks/gpu_check_report.md] [--family wan ...] [--release NAME ...]
                                   [--timeout 150] [--budget 570] [--pairs 1] [--tiny]
                                   [--parallel-ranks N] [--parallel-budget 1200]

For each family (one released model each: the first of its family in memory/released.py unless --release
names others) a fresh process

1. builds every module of the release from its published config with parameters on the meta device, then
   materialises them on the GPU (empty storage, random values in place: no download, no weights on disk) and
   parks them on the CPU, where from_pretrained would have left them. Buffers the modules compute at
   construction (position ids, rotary tables) are kept as computed. Tokenizers, scheduler and image processor
   come from the family's tiny model (tiny_models/): any tokenizer of the right kind works, its ids are all
   valid for the real vocabulary;
2. runs the pack's graph, DVTextEncode -> DVSampler -> DVVAEDecode, as tests/parity.py does, at a small size
   (256x256, a few frames, 2 steps) with previews on: outside ComfyUI there is no latent_preview module, so
   host.latent_previewer is replaced by one that projects the latent to RGB with torch, as ComfyUI's
   Latent2RGB previewer does, for the families ComfyUI has a latent format for. The text encoders leave the
   GPU after encoding and the denoiser before decoding, as ComfyUI's memory manager would have them;
3. records torch.cuda.max_memory_allocated over DVSampler against the plan's predicted peak
   (model_loaders/auto_offload.py: choose(model, working_bytes(...)), taken at the same moment the sampler
   takes it), the seconds per step, and the run's total time;
4. runs the family's bare diffusers pipeline on the same modules and inputs (enable_model_cpu_offload, the
   diffusers guides' way to fit a GPU) and compares its frames with the graph's (max |diff|) and its time.

A family that fails or passes its timeout is reported with the reason and the next one runs; the whole run
stays within --budget seconds (default 570: under ten minutes). The report is one markdown file.

--tiny runs the same code on the CPU with the tiny models' configs instead of the released ones (the
modules are built and randomised the same way), at the tiny models' sizes, so the script is exercised by the
test suite (tests/test_gpu_check.py) without a GPU. There the peak column is the denoiser's weight bytes plus
the growth of the process's resident set while DVSampler runs (sampled every 2 ms): the CPU counterpart of
CUDA's allocated peak, which also counts the weights on the device.

On a machine with more than one GPU (or with --parallel-ranks N: N ranks, gloo CPU processes where the GPUs are
fewer, so --tiny exercises it here) the report gains a "multi-GPU" section: for each model whose family can be
split, the headless torchrun paths (--parallel ulysses, --seeds) against one device's frames, with times, the
speed-up and each rank's peak (benchmarks/gpu_check_parallel.py says how). With one GPU and no flag the section
says it was skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gpu_check_parallel
from gpu_check_models import (
    CASES,
    SEED,
    TOLERANCE,
    Case,
    build_empty,
    built,
    fitted_image_processor,
    mb,
    module_class,
    module_config,
    release_for,
    tail,
)

if TYPE_CHECKING:
    import torch
    from diffusers_video.host import ManagedModule
    from diffusers_video.model_loaders.components import DVModel
    from parity import Shot

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "gpu_check_report.md"
RESULT_PREFIX = "GPU_CHECK_RESULT "
# ComfyUI's latent formats (comfy/latent_formats.py): channels each previewer takes.
PREVIEW_CHANNELS = {"SD15": 4, "Wan21": 16, "Wan22": 48, "LTXV": 128, "HunyuanVideo": 16, "Mochi": 12}


# ------------------------------------------------------------------------------------- the graph's inputs


def assemble(case: Case, tiny: bool, release_name: str | None) -> dict[str, Any]:
    """The graph's inputs for one family: DV objects as DVPipelineLoader returns them, built around modules
    materialised from the release's configs (or, with --tiny, from the tiny model's own configs), plus the
    motion adapter for AnimateDiff. Returns model, vae, text_encoder, adapter (or None), release name,
    denoiser parameters and what was swapped."""
    import torch
    from diffusers_video.families import family_for_class
    from diffusers_video.memory import precision
    from diffusers_video.model_loaders import loading
    from diffusers_video.tiny_models.cache import install_into_models_dir, tiny_model_path

    name = f"tiny-{case.tiny}"
    install_into_models_dir(os.environ["DV_MODELS_DIR"], case.tiny, name)
    with torch.inference_mode():
        loaded = loading.load_pipeline_folder(name, "auto")
    comps = loaded["components"]
    specs: dict[str, tuple[str, str, dict[str, Any]]] = {}
    release = None
    if tiny:
        for role, value in comps.items():
            if isinstance(value, torch.nn.Module):
                specs[role] = module_config(value)
        adapter_folder = tiny_model_path("motion_adapter") if case.family == "animatediff" else None
        if adapter_folder:
            from diffusers import MotionAdapter

            specs["motion_adapter"] = module_config(MotionAdapter.from_pretrained(adapter_folder))
    else:
        release = release_for(case.family, release_name)
        for comp in release.components:
            specs[comp.role] = (comp.library, comp.class_name, dict(comp.config))
        missing = [role for role in specs if role not in comps and role != "motion_adapter"]
        if missing:
            raise RuntimeError(f"the tiny {case.tiny} folder has no {missing}; the release needs them")
    family = loaded["family"]
    empties = {role: build_empty(*spec) for role, spec in specs.items()}
    denoiser_roles = [role for role, module in empties.items() if type(module).__name__ in family.model_classes]
    configs: dict[str, Any] = {"pipeline": loaded.get("pipeline_config", {}), "denoisers": len(denoiser_roles)}
    if denoiser_roles:
        configs["denoiser"] = dict(empties[denoiser_roles[0]].config)
    if "vae" in empties:
        configs["vae"] = dict(empties["vae"].config)
    precise = family.resolved(configs)
    del empties
    adapter = None
    for index, (role, spec) in enumerate(sorted(specs.items())):
        if role == "motion_adapter":
            dtype = loading.component_dtype(family_for_class("UNetMotionModel"), "motion_adapter", "auto")
            adapter = built(*spec, dtype, SEED + index)
            continue
        dtype = loading.component_dtype(precise, precision.role_of(role, role in denoiser_roles), "auto")
        comps[role] = built(*spec, dtype, SEED + index)
    fitted_image_processor(comps)
    params = sum(p.numel() for role in denoiser_roles for p in comps[role].parameters())
    if adapter is not None:
        params += sum(p.numel() for p in adapter.parameters())
    parts = loading.wrap_components(loaded)
    label = release.name if release is not None else f"tiny-{case.tiny} (random weights)"
    return {"model": parts["model"], "vae": parts["vae"], "text_encoder": parts["text_encoder"],
            "adapter": adapter, "release": label, "parameters": params}



# ------------------------------------------------------------------------------------------ measuring


def picture(width: int, height: int) -> torch.Tensor:
    """An IMAGE [1, H, W, 3] with structure (ramps), as the family tests use."""
    import torch

    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([x + 0 * y, y + 0 * x, (x * y) % 1], -1)[None]


def torch_previewer(counter: list[int]) -> Callable[[str | None], Callable[[Any], Any] | None]:
    """host.latent_previewer's stand-in: for a family with a ComfyUI latent format, a previewer that projects
    the first frame of the predicted clean latent to RGB with a fixed channel -> RGB matrix (ComfyUI's
    Latent2RGB, with seeded factors) and makes an 8-bit image, guarded by host.safe_previewer as in ComfyUI."""
    import torch
    from diffusers_video import host

    def previewer(fmt: str | None) -> Callable[[Any], Any] | None:
        if fmt is None:  # no ComfyUI format: ComfyUI shows no previews either
            return None
        channels = PREVIEW_CHANNELS.get(fmt)

        def make(x0):
            from PIL import Image

            frame = x0[0, :, 0] if x0.dim() == 5 else x0[0]  # [C, H, W] of the first frame
            factors = torch.randn(frame.shape[0], 3, generator=torch.Generator().manual_seed(0))
            rgb = torch.einsum("chw,cr->hwr", frame.float(), factors.to(frame.device))
            rgb = ((rgb.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).cpu().numpy()
            counter[0] += 1
            return Image.fromarray(rgb)

        return host.safe_previewer(make, channels, fmt)

    return previewer


@contextlib.contextmanager
def step_clock(model: DVModel) -> Iterator[list[float]]:
    """Times of the sampling steps: the first denoiser call, then each progress update (synchronised on a GPU
    so the clock sees the work, not its launch)."""
    import torch
    from diffusers_video import host

    stamps: list[float] = []

    def now() -> float:
        if torch.cuda.is_available() and host.torch_device().type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def first_call(*_):
        if not stamps:
            stamps.append(now())

    original = host.Progress.update

    def update(self, n: int = 1, preview: Any = None) -> None:
        original(self, n, preview)
        if stamps:
            stamps.append(now())

    hooks = [managed.module.register_forward_pre_hook(first_call) for managed in model.denoisers().values()]
    host.Progress.update = update
    try:
        yield stamps
    finally:
        host.Progress.update = original
        for hook in hooks:
            hook.remove()


@contextlib.contextmanager
def peak_memory(cuda: bool) -> Iterator[dict[str, int]]:
    """The peak over the block: CUDA's allocated peak, or on the CPU the growth of the resident set (sampled
    every 2 ms) above where it stood at the start."""
    result = {"peak": 0}
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        yield result
        torch.cuda.synchronize()
        result["peak"] = torch.cuda.max_memory_allocated()
        return
    import psutil

    process, done = psutil.Process(), threading.Event()
    start = process.memory_info().rss
    high = [start]

    def sample() -> None:
        while not done.is_set():
            high[0] = max(high[0], process.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        high[0] = max(high[0], process.memory_info().rss)
        result["peak"] = high[0] - start


class WarningsKept(logging.Handler):
    """The pack's warnings of a run (a previewer turned off, a precision note), for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def unload_all(*managed: ManagedModule | None) -> None:
    """Off the compute device, as ComfyUI's memory manager evicts what the next node does not use."""
    from diffusers_video import host

    for m in managed:
        if m is not None:
            host.unload(m)
    host.soft_empty_cache()


def run_graph(case: Case, parts: dict[str, Any], shot: Shot, cuda: bool) -> dict[str, Any]:
    """DVTextEncode -> DVSampler -> DVVAEDecode with the peak and step times of DVSampler."""
    from diffusers_video.model_loaders import auto_offload
    from parity import decode, encode_prompt, sample_latent

    model, vae, text_encoder = parts["model"], parts["vae"], parts["text_encoder"]
    text_side = [] if text_encoder is None else [text_encoder.managed, *[
        v for v in text_encoder.extras.values() if hasattr(v, "module")]]
    everything = [*model.denoisers().values(), *model.managed_companions(), vae.managed, *text_side]
    unload_all(*everything)
    start = time.perf_counter()
    conditioning = encode_prompt((model, vae, text_encoder), shot)
    unload_all(*text_side)
    working = auto_offload.working_bytes(model, shot.width, shot.height, shot.frames, shot.guidance)
    plan = auto_offload.choose(model, working)
    inputs: dict[str, Any] = {"conditioning": conditioning}
    if case.image:
        inputs.update(vae=vae, image=picture(shot.width, shot.height))
    if case.family == "ltx":
        from diffusers_video.nodes.options import NODES

        options = next(node for node in NODES if node.__name__ == "DVLTXOptions")
        (inputs["options"],) = options().build(frame_rate=24, decode_timestep=0.03, decode_noise_scale=0.025,
                                               guidance_rescale=0.0)
    weights = sum(p.numel() * p.element_size() for m in model.denoisers().values() for p in m.module.parameters())
    with step_clock(model) as stamps, peak_memory(cuda) as peak:
        latent = sample_latent((model, vae, text_encoder), shot, **inputs)
    unload_all(*model.denoisers().values(), *model.managed_companions())
    frames = decode((model, vae, text_encoder), latent)
    seconds = time.perf_counter() - start
    unload_all(*everything)
    measured = peak["peak"] if cuda else weights + peak["peak"]
    per_step = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1) if len(stamps) > 1 else float("nan")
    return {"frames": frames.float().cpu(), "seconds": seconds, "per_step": per_step, "measured": measured,
            "predicted": plan.peak, "working": working, "plan": plan.describe(),
            "dtype": str(model.managed.dtype).removeprefix("torch.")}


def run_pipeline(case: Case, parts: dict[str, Any], shot: Shot, cuda: bool) -> tuple[torch.Tensor, float]:
    """The family's diffusers pipeline on the same modules and inputs (the family tests' reference call)."""
    import torch
    from parity import as_pil, reference_frames

    model, vae, text_encoder = parts["model"], parts["vae"], parts["text_encoder"]
    components: dict[str, Any] = {"vae": vae.module, "scheduler": model.scheduler.create(), model.role: model.module}
    components.update({role: m.module for role, m in model.more_denoisers.items()})
    components.update({role: getattr(v, "module", v) for role, v in model.companions.items()})
    if text_encoder is not None:
        components.update(text_encoder=text_encoder.module, tokenizer=text_encoder.tokenizer)
        components.update({role: getattr(v, "module", v) for role, v in text_encoder.extras.items()})
    if parts["adapter"] is not None:
        components["motion_adapter"] = parts["adapter"]
    pipeline_class = module_class("diffusers", _pipeline_name(case, model))
    pipe = _assemble(pipeline_class, model.pipeline_config, components)
    kwargs: dict[str, Any] = {}
    if case.image:
        kwargs["image"] = as_pil(picture(shot.width, shot.height))[0]
    if case.family == "svd":
        kwargs["max_guidance_scale"] = shot.guidance
    if case.family == "ltx":
        kwargs.update(frame_rate=24, decode_timestep=0.03, decode_noise_scale=0.025, guidance_rescale=0.0)
    if case.family == "hunyuanvideo":
        from diffusers_video.families.hunyuanvideo import prompt_template

        kwargs.update(true_cfg_scale=1.0, prompt_template=prompt_template(pipe.tokenizer))
    if case.family == "i2vgenxl":
        if not hasattr(pipe.text_encoder, "text_model"):  # transformers 5's flat CLIPTextModel (see its test)
            object.__setattr__(pipe.text_encoder, "text_model", pipe.text_encoder)
        torch.manual_seed(shot.seed)  # the image's VAE posterior sample draws from the global generator
    if cuda:
        pipe.enable_model_cpu_offload()
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            frames = reference_frames(pipe, shot, **kwargs)
    finally:
        if cuda:
            pipe.remove_all_hooks()
            for module in components.values():
                if isinstance(module, torch.nn.Module):
                    module.to("cpu")
            torch.cuda.empty_cache()
    return frames.float(), time.perf_counter() - start


def _pipeline_name(case: Case, model: DVModel) -> str:
    tasks = model.family.pipeline_classes
    if case.family == "animatediff":
        return tasks["t2v"]
    return tasks["i2v"] if case.image else tasks.get("t2v", next(iter(tasks.values())))


def _assemble(pipeline_class: type, config: dict[str, Any], components: dict[str, Any]) -> Any:
    import inspect

    accepted = inspect.signature(pipeline_class.__init__).parameters
    parts = {name: None for name, p in accepted.items() if name != "self" and p.default is inspect.Parameter.empty}
    parts.update({k: v for k, v in config.items() if k in accepted})
    parts.update({k: v for k, v in components.items() if k in accepted})
    return pipeline_class(**parts)


def check_family(family: str, tiny: bool, release_name: str | None, pairs: int, deadline: float) -> dict[str, Any]:
    """One family end to end (in the child process)."""
    import torch
    from diffusers_video import host
    from diffusers_video.nodes.loaders import DVApplyMotionAdapter, DVMotionAdapter

    case = CASES[family]
    cuda = host.torch_device().type == "cuda"
    if cuda:  # the first CUDA work of a process sets up handles and loads kernels: not in either side's time
        x = torch.randn(256, 256, device="cuda", dtype=torch.bfloat16)
        torch.nn.functional.scaled_dot_product_attention(x[None, None], x[None, None], x[None, None])
        (x @ x).sum().item()
    started = time.perf_counter()
    parts = assemble(case, tiny, release_name)
    built_s = time.perf_counter() - started
    if parts["adapter"] is not None:
        with torch.inference_mode():
            (parts["model"],) = DVApplyMotionAdapter().apply(parts["model"], DVMotionAdapter(parts["adapter"],
                                                                                             "random"))
    shot = case.shot(tiny)
    previews = [0]
    host.latent_previewer = torch_previewer(previews)
    warnings = WarningsKept()
    logging.getLogger("DiffusersVideo").addHandler(warnings)
    graph_runs, bare_runs, reference = [], [], None
    notes: list[str] = []
    for pair in range(pairs):
        if pair and time.time() > deadline - 2 * (graph_runs[0]["seconds"] + bare_runs[0]):
            notes.append(f"{pair} of {pairs} pairs: the family's time ran short")
            break
        order = ("graph", "pipeline") if pair % 2 == 0 else ("pipeline", "graph")
        for side in order:
            if side == "graph":
                graph_runs.append(run_graph(case, parts, shot, cuda))
            else:
                frames, seconds = run_pipeline(case, parts, shot, cuda)
                reference = frames if reference is None else reference
                bare_runs.append(seconds)
    notes += sorted({m for m in warnings.messages if "no previews" in m})
    preview_format = parts["model"].family.comfy_latent_format
    first = graph_runs[0]
    diff = (first["frames"] - reference).abs().max().item() if first["frames"].shape == reference.shape else None
    tolerance = TOLERANCE["fp32" if first["dtype"] == "float32" else "reduced"]
    return {"family": family, "release": parts["release"], "parameters": parts["parameters"],
            "dtype": first["dtype"], "size": f"{shot.width}x{shot.height}x{shot.frames}", "steps": shot.steps,
            "measured": first["measured"], "predicted": first["predicted"], "working": first["working"],
            "plan": first["plan"], "per_step": first["per_step"],
            "graph_s": [r["seconds"] for r in graph_runs], "bare_s": bare_runs,
            "max_diff": diff, "shape": list(first["frames"].shape), "reference_shape": list(reference.shape),
            "frames_std": first["frames"].std().item(), "match": diff is not None and diff <= tolerance,
            "tolerance": tolerance, "build_s": built_s,
            "previews": (f"{previews[0] / len(graph_runs):.0f} ({preview_format})" if preview_format
                         else "none (no ComfyUI latent format)"),
            "status": "ok", "notes": notes}


# ---------------------------------------------------------------------------------------------- parent


def run_child(family: str, release: str | None, args: argparse.Namespace, timeout: float,
              env: dict[str, str]) -> dict[str, Any]:
    """One family (its default release, or `release`) in a fresh process (clean GPU state, its own peak),
    killed at the timeout."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", family, "--pairs", str(args.pairs),
               "--deadline", str(time.time() + timeout)]
    if args.tiny:
        command.append("--tiny")
    if release:
        command += ["--release", release]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return {"family": family, "status": f"timed out after {timeout:.0f} s", "notes": [tail(err)],
                "seconds": time.perf_counter() - started}
    lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        return {"family": family, "status": f"crashed (exit code {process.returncode})", "notes": [tail(err)],
                "seconds": time.perf_counter() - started}
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    result["seconds"] = time.perf_counter() - started
    return result



def _family_of_release(name: str) -> str:
    return release_for("", name).family


def machine() -> dict[str, str]:
    import diffusers
    import torch
    from diffusers_video import host

    device = host.torch_device()
    info = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = f"{props.name}, {props.total_memory / 1e9:.1f} GB"
    return info



def report(results: list[dict[str, Any]], args: argparse.Namespace, seconds: float,
           parallel: dict[str, Any] | None = None) -> str:
    cuda = not args.tiny and machine()["device"].startswith("cuda")
    peak_name = "measured peak MB (CUDA allocated)" if cuda else "measured peak MB (CPU: weights + RSS growth)"
    lines = ["# GPU check", "",
             f"`python benchmarks/gpu_check.py{' --tiny' if args.tiny else ''}` on {time.strftime('%Y-%m-%d %H:%M')}, "
             f"{seconds:.0f} s in all.", ""]
    lines += [f"- {k}: {v}" for k, v in machine().items()]
    lines += ["", "Mode: " + ("tiny models' configs on the CPU (the code path check; sizes and times mean nothing)"
                              if args.tiny else "released configs, random weights"), ""]
    head = ["family", "model", "denoiser params", "dtype", "WxHxF", "steps", peak_name, "predicted peak MB (plan)",
            "measured / predicted", "plan", "graph s/step", "graph s", "diffusers s", "frames max abs diff",
            "frames match", "previews per run", "status"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for r in results:
        if r["status"] != "ok":
            row = [r["family"]] + ["-"] * (len(head) - 2) + [r["status"]]
            row[head.index("frames match")] = "no"
            lines.append("| " + " | ".join(row) + " |")
            notes += [f"### {r['family']}: {r['status']}", "", "```", *r.get("notes", []), "```", ""]
            continue
        ratio = r["measured"] / r["predicted"] if r["predicted"] else float("nan")
        diff = "shape differs" if r["max_diff"] is None else f"{r['max_diff']:.2e}"
        row = [r["family"], r["release"], f"{r['parameters'] / 1e6:.1f}M", r["dtype"], r["size"], str(r["steps"]),
               mb(r["measured"]), mb(r["predicted"]), f"{ratio:.2f}", r["plan"], f"{r['per_step']:.3f}",
               " / ".join(f"{s:.2f}" for s in r["graph_s"]), " / ".join(f"{s:.2f}" for s in r["bare_s"]), diff,
               "yes" if r["match"] else "no", r["previews"],
               "ok" + (f" ({'; '.join(r['notes'])})" if r["notes"] else "")]
        lines.append("| " + " | ".join(row) + " |")
        if r["frames_std"] < 0.01:
            notes.append(f"- {r['family']}: the graph's frames are nearly constant (std {r['frames_std']:.4f}); "
                         "with random weights the match says less.")
    lines += ["", "Columns: the peak is over DVSampler alone (text encoders and VAE off the device, as ComfyUI's "
              "manager has them); predicted is the auto-offload plan's peak for the same moment (resident "
              "weights + working memory); graph s is encode + sample + decode, diffusers s the pipeline's call "
              "(with enable_model_cpu_offload on a GPU), one figure per run: the graph runs first in the first "
              "pair, the pipeline first in the second (--pairs 2), after a CUDA warm-up; frames match within "
              f"{TOLERANCE['fp32']:g} at fp32, {TOLERANCE['reduced']:g} in 16 bits.", ""]
    if notes:
        lines += ["## Notes", "", *notes]
    if parallel is not None:
        section = gpu_check_parallel.render(parallel)
        lines += ["", *section] if lines[-1] else section
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the report (markdown)")
    parser.add_argument("--family", action="append", choices=sorted(CASES), help="only these families")
    parser.add_argument("--release", action="append", help="a release of memory/released.py by name, for its family")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per family")
    parser.add_argument("--budget", type=float, default=570.0, help="seconds for the whole run")
    parser.add_argument("--pairs", type=int, default=1, help="graph/pipeline pairs per family (order alternates)")
    parser.add_argument("--tiny", action="store_true", help="tiny models' configs on the CPU (no GPU needed)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="families run at once (--tiny only: on a GPU their peaks would mix)")
    parser.add_argument("--parallel-ranks", type=int, default=0, metavar="N",
                        help="run the multi-GPU section on N ranks (default: every GPU when there are 2 or more; "
                        "gloo CPU processes where the GPUs are fewer, i.e. with --tiny)")
    parser.add_argument("--parallel-budget", type=float, default=1200.0,
                        help="seconds for the multi-GPU section (after --budget's single-GPU part)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DV_PROGRESS", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded
    if args.tiny:
        os.environ.setdefault("DV_DEVICE", "cpu")
    sys.path.insert(0, str(REPO / "tests"))  # tests/parity.py: the graph and reference calls
    if args.child:
        try:
            result = check_family(args.child, args.tiny, args.release[0] if args.release else None, args.pairs,
                                  args.deadline or time.time() + args.timeout)
        except Exception as error:  # noqa: BLE001 - the report says what failed; the next family runs
            result = {"family": args.child, "status": f"failed: {type(error).__name__}: {str(error)[:300]}",
                      "notes": [traceback.format_exc()[-3000:]]}
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    if args.jobs > 1 and not args.tiny:
        parser.error("--jobs runs families side by side, which only --tiny may do (a GPU's peaks would mix)")
    if not args.tiny:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device: this check is for a GPU machine (--tiny runs its code on the CPU)", file=sys.stderr)
            return 2
    try:
        chosen = {name: _family_of_release(name) for name in args.release or []}
    except KeyError as error:
        parser.error(str(error))
    families = args.family or list(CASES)
    families += [family for family in chosen.values() if family not in families]
    # (family, release): the releases named for a family, else its default one.
    runs = [(family, name) for family in families
            for name in ([n for n, f in chosen.items() if f == family] or [None])]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as models:
        env = {**os.environ, "DV_MODELS_DIR": models}

        def one(run: tuple[str, str | None]) -> dict[str, Any]:
            family, release = run
            left = args.budget - (time.perf_counter() - started)
            if left < 20:
                return {"family": family, "status": "not run: the time budget was spent", "notes": []}
            result = run_child(family, release, args, min(args.timeout, left), env)
            print(f"{family}{' ' + release if release else ''}: {result['status']} ({result['seconds']:.0f} s)",
                  flush=True)
            return result

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(one, runs))
        parallel = gpu_check_parallel.run_section(args, runs, env, args.parallel_budget)
    text = report(results, args, time.perf_counter() - started, parallel)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
