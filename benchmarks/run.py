"""Benchmarks of the pack against plain diffusers, on this machine, in one run.

    python benchmarks/run.py [--quick] [--out docs]

Prints a table per measurement and writes docs/benchmarks.md (with the machine it ran on) and
docs/decode_memory.png. Every ratio compares runs made here, side by side, with the same model, inputs and
steps; nothing is asserted (the test suite holds no timings).

1. overhead: the node graph (DVTextEncode -> DVSampler -> DVVAEDecode) vs CogVideoXPipeline.__call__ on the
   same loaded modules, for the tiny CogVideoX and one of ~100M parameters. Target <= 1.02x.
2. decode peak memory per chunk size vs one full decode, each in a fresh process (peak RSS on CPU; CUDA's
   peak allocation on a GPU), and the time ratio. Target: chunk k of F peaks at <= k/F of full plus a constant.
3. step caches: transformer attention work skipped and time vs no cache, with the cache settings used.
4. fp8 layerwise casting: peak memory of a fresh process that loads the model and samples with it, fp32
   weights against fp8 storage (peak RSS on CPU; CUDA's peak allocation on a GPU).
5. pack import time (and that diffusers is not imported), and model reloads when an unchanged workflow is
   queued again. Targets: < 0.3 s, 0 reloads.
6. re-queue through a real ComfyUI server (when COMFYUI_PATH, and COMFYUI_PYTHON, name one): the example
   workflow queued, then queued again with only the seed changed; model loads and text encodes of the second
   run. Target: 0 and 0.

Timings are paired: the two sides of a comparison run in turn, and the side that goes first alternates from
pair to pair, so neither always gets the warmer caches or the quieter moment of the machine. Every timing
is given as min / median / max over the pairs, and a ratio as the min / median / max of the per-pair ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MEDIUM_NAME = "bench-cogvideox-100m-v2"


# ----------------------------------------------------------------------------------------------- setup


def models_dir() -> str:
    """A models folder with the tiny CogVideoX and a ~100M-parameter one (built once, cached)."""
    from diffusers_video.tiny_models.cache import install_into_models_dir, tiny_model_path

    root = os.environ.get("DV_BENCH_MODELS") or os.path.join(tempfile.gettempdir(), "diffusers_video_bench")
    install_into_models_dir(root, "cogvideox", "tiny-cogvideox")
    install_into_models_dir(root, "wan", "tiny-wan")
    medium = os.path.join(root, "diffusers", MEDIUM_NAME)
    if not os.path.isfile(os.path.join(medium, "model_index.json")):
        import torch
        from diffusers import CogVideoXPipeline, CogVideoXTransformer3DModel

        pipe = CogVideoXPipeline.from_pretrained(tiny_model_path("cogvideox"))
        config = dict(pipe.transformer.config)
        config.update(num_attention_heads=16, attention_head_dim=64, num_layers=5, time_embed_dim=512)
        torch.manual_seed(0)
        pipe.transformer = CogVideoXTransformer3DModel.from_config(config).eval()
        pipe.save_pretrained(medium, safe_serialization=True)
    os.environ["DV_MODELS_DIR"] = root
    return root


def machine() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": str(os.cpu_count()),
            "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "device": device}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired_times(first: Callable[[], object], second: Callable[[], object],
                 repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of `first` and of `second` over `repeats` pairs, run in turn; which of the two goes first
    alternates from pair to pair (first-second, second-first, ...), so a side is not always the one that
    finds the caches warm or the machine quiet."""
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        if i % 2 == 0:
            a.append(timed(first))
            b.append(timed(second))
        else:
            b.append(timed(second))
            a.append(timed(first))
    return a, b


def spread(values: list[float], digits: int = 3) -> str:
    """min / median / max."""
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


def ratios(a: list[float], b: list[float]) -> list[float]:
    """a/b pair by pair."""
    return [x / y for x, y in zip(a, b, strict=True)]


# ----------------------------------------------------------------------------------------- 1. overhead


def overhead(repeats: int, steps: int) -> list[dict]:
    return [_overhead_row(name, repeats, steps) for name in ("tiny-cogvideox", MEDIUM_NAME)]


def _overhead_row(name: str, repeats: int, steps: int) -> dict:
    import torch
    from diffusers import CogVideoXPipeline
    from diffusers_video.nodes.loaders import DVPipelineLoader
    from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
    from diffusers_video.nodes.vae import DVVAEDecode

    prompt, width, height, frames = "a panda playing a guitar in a bamboo forest", 96, 64, 9
    with torch.inference_mode():
        model, vae, text_encoder, scheduler = DVPipelineLoader().load(name, "fp32")
    params = sum(p.numel() for p in model.module.parameters())
    pipe = CogVideoXPipeline(tokenizer=text_encoder.tokenizer, text_encoder=text_encoder.module, vae=vae.module,
                             transformer=model.module, scheduler=scheduler.create())
    pipe.set_progress_bar_config(disable=True)

    def graph():
        with torch.inference_mode():
            (cond,) = DVTextEncode().encode(text_encoder, prompt, "", 226, True)
            (latent,) = DVSampler().sample(model, width, height, frames, steps, 6.0, 1, conditioning=cond)
            return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]

    def bare():
        with torch.inference_mode():
            return pipe(prompt=prompt, negative_prompt="", width=width, height=height, num_frames=frames,
                        num_inference_steps=steps, guidance_scale=6.0,
                        generator=torch.Generator().manual_seed(1), output_type="np").frames

    graph(), bare()  # warm-up: first calls allocate and build caches in both
    graph_times, bare_times = paired_times(graph, bare, repeats)
    per_pair = ratios(graph_times, bare_times)
    median = statistics.median(per_pair)
    return {"model": name, "parameters": f"{params / 1e6:.1f}M", "pairs": len(per_pair),
            "graph s (min / med / max)": spread(graph_times), "diffusers s (min / med / max)": spread(bare_times),
            "ratio graph/diffusers (min / med / max)": spread(per_pair), "target": "<= 1.02 (median)",
            "met": "yes" if median <= 1.02 else "no"}


# ------------------------------------------------------------------------------------ 2. decode memory

_DECODE_CHILD = r"""
import json, sys, threading, time, psutil, torch
from diffusers_video.nodes.loaders import DVVAELoader
from diffusers_video.nodes.vae import DVVAEDecode
chunk, frames, height, width = (int(a) for a in sys.argv[1:5])
with torch.inference_mode():
    (vae,) = DVVAELoader().load("tiny-cogvideox/vae", "fp32")
    latent = {"samples": torch.randn(1, 4, frames, height, width, generator=torch.Generator().manual_seed(0)),
              "dv_family": "cogvideox"}
    cuda = torch.cuda.is_available()
    process, peak, done = psutil.Process(), [0], threading.Event()
    def sample_rss():  # CPU: the resident set, sampled every 2 ms, above what it was before the decode
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = process.memory_info().rss
        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
    start = time.perf_counter()
    DVVAEDecode().decode(vae, latent, chunk, "off", 0, 0.0)
    seconds = time.perf_counter() - start
    done.set()
    after = torch.cuda.max_memory_allocated() if cuda else peak[0]
print(json.dumps({"peak": max(0, after - before), "seconds": seconds}))
"""


def decode_memory(latent_frames: int, height: int, width: int) -> list[dict]:
    results = []
    # CogVideoX decodes latent frames in pairs (odd chunks round up), so the chunk sizes that differ are even.
    for chunk in [*range(2, latent_frames, 2), latent_frames]:
        # A fixed mmap threshold makes glibc hand large freed blocks back at once, so the resident set follows
        # live memory instead of keeping the high-water mark of earlier chunks.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        done = subprocess.run([sys.executable, "-c", _DECODE_CHILD, str(chunk), str(latent_frames), str(height),
                               str(width)], capture_output=True, text=True, env=env, check=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        results.append({"chunk": chunk, **measured})
    full = results[-1]
    rows = []
    for r in results:
        # CogVideoX's VAE folds the remainder F % k into its first call, so that call decodes k + F % k frames.
        largest = min(latent_frames, r["chunk"] + latent_frames % r["chunk"])
        rows.append({"chunk (latent frames)": r["chunk"], "largest call": largest,
                     "peak MiB": f"{r['peak'] / 2**20:.0f}",
                     "peak / full": f"{r['peak'] / max(1, full['peak']):.2f}",
                     "largest call / F": f"{largest / latent_frames:.2f}",
                     "time / full": f"{r['seconds'] / full['seconds']:.2f}"})
    return rows


def plot_decode(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chunks = [r["chunk (latent frames)"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(chunks, [float(r["peak MiB"]) for r in rows], marker="o", label="measured peak")
    full = float(rows[-1]["peak MiB"])
    ax.plot(chunks, [full * r["largest call"] / rows[-1]["largest call"] for r in rows], linestyle="--",
            label="(largest call)/F of full")
    ax.set_xlabel("decode_chunk_size (latent frames)")
    ax.set_ylabel("decode peak memory (MiB)")
    ax.set_title("CogVideoX VAE decode: peak memory against chunk size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ------------------------------------------------------------------------------------- 3. step caches

# (model, cache, DVStepCache's threshold, skip_range, timestep_start, timestep_end). The window -1..1001 takes
# in every timestep, so the caches act on all 8 steps rather than only inside diffusers' default 100-800.
CACHE_CASES = [("tiny-wan", "FirstBlockCache", (0.9, 2, 100, 800)),
               ("tiny-wan", "PyramidAttentionBroadcast", (0.05, 2, -1, 1001)),
               (MEDIUM_NAME, "PyramidAttentionBroadcast", (0.05, 2, -1, 1001)),
               (MEDIUM_NAME, "FasterCache", (0.05, 2, -1, 1001))]


def step_caches(steps: int, repeats: int) -> list[dict]:
    import torch
    from diffusers_video.nodes.loaders import DVPipelineLoader

    loaded, rows = {}, []
    for name, cache, settings in CACHE_CASES:
        if name not in loaded:
            with torch.inference_mode():
                loaded[name] = DVPipelineLoader().load(name, "fp32")
        rows.append(_cache_row(loaded[name], name, cache, settings, steps, repeats))
    return rows


def cache_settings(cached_model: Any, steps: int) -> str:
    """The diffusers cache config DVSampler installs for this wire: the fields that set what is skipped and
    when (thresholds, skip ranges, timestep windows; FasterCache's own defaults included), callbacks and block
    name patterns left out."""
    import dataclasses

    config = cached_model.step_cache.config(lambda: -1, steps)
    shown = [f"{f.name}={getattr(config, f.name)}" for f in dataclasses.fields(config)
             if not f.name.startswith("_") and getattr(config, f.name) is not None
             and any(word in f.name for word in ("threshold", "skip_range", "timestep_range", "alpha"))]
    return type(config).__name__ + "(" + ", ".join(shown) + ")"


def _cache_row(parts, name: str, cache: str, settings: tuple, steps: int, repeats: int) -> dict:
    import torch
    from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
    from diffusers_video.nodes.speed import DVStepCache

    model, _, text_encoder, _ = parts
    max_len = 512 if "wan" in name else 226
    calls, attention_s, started = {"n": 0}, [0.0], {}

    def count(*_):
        calls["n"] += 1

    def enter(module, *_):
        started[id(module)] = time.perf_counter()

    def leave(module, *_):
        attention_s[0] += time.perf_counter() - started.pop(id(module), time.perf_counter())

    attention = [m for m in model.module.modules() if hasattr(m, "to_q")]  # self- and cross-attention modules
    hooks = [m.register_forward_hook(count) for n, m in model.module.named_modules() if n.endswith(".to_q")]
    hooks += [m.register_forward_pre_hook(enter) for m in attention]
    hooks += [m.register_forward_hook(leave) for m in attention]

    def run(wire):
        with torch.inference_mode():
            (cond,) = DVTextEncode().encode(text_encoder, "waves at night", "blurry", max_len, True)
            return DVSampler().sample(wire, 64, 64, 9, steps, 5.0, 3, conditioning=cond)[0]["samples"]

    (cached,) = DVStepCache().apply(model, cache, *settings)
    try:
        run(model)
        calls["n"], attention_s[0] = 0, 0.0
        start = time.perf_counter()
        plain_out = run(model)
        share = attention_s[0] / (time.perf_counter() - start)
        plain_calls, calls["n"] = calls["n"], 0
        cached_out = run(cached)
        cached_calls = calls["n"]
    finally:
        for hook in hooks:
            hook.remove()
    cached_t, plain_t = paired_times(lambda: run(cached), lambda: run(model), repeats)  # without the counters
    change = ((cached_out - plain_out).abs().mean() / plain_out.abs().mean()).item()
    per_pair = ratios(cached_t, plain_t)
    skipped = 1 - cached_calls / plain_calls
    slower_pairs = sum(r > 1.0 for r in per_pair)
    if statistics.median(per_pair) > 1.0:
        remark = "slower here"
    elif slower_pairs:
        remark = f"no sure gain here: slower in {slower_pairs} of {len(per_pair)} pairs"
    else:
        remark = ""
    return {"model": name, "cache": cache, "settings (diffusers config)": cache_settings(cached, steps),
            "attention calls": f"{cached_calls}/{plain_calls}", "skipped": f"{skipped:.0%}",
            "attention share of a plain run": f"{share:.0%}",
            "time ratio cached/plain (min / med / max)": spread(per_pair, 2), "mean change": f"{change:.3f}",
            "remark": remark}


# ------------------------------------------------------------------------------------------- 4. fp8

_FP8_CHILD = r"""
import json, os, resource, sys, threading, time, psutil, torch
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
name, weights, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
cuda = torch.cuda.is_available() and os.environ.get("DV_DEVICE", "cuda") != "cpu"
process, phase, peaks, done = psutil.Process(), ["load"], {"load": 0, "sample": 0}, threading.Event()
def sample_rss():  # the resident set every 2 ms, kept per phase
    while not done.is_set():
        peaks[phase[0]] = max(peaks[phase[0]], process.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample_rss, daemon=True)
sampler.start()
with torch.inference_mode():
    model, vae, text_encoder, _ = DVPipelineLoader().load(name, "fp32", weights)
    (cond,) = DVTextEncode().encode(text_encoder, "waves at night", "blurry", max_len, True)
    time.sleep(0.01)
    phase[0] = "sample"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    DVSampler().sample(model, 64, 64, 9, 2, 5.0, 3, conditioning=cond)
    seconds = time.perf_counter() - start
    time.sleep(0.01)
done.set()
sampler.join()
weight_bytes = sum(p.numel() * p.element_size() for p in model.module.parameters())
mapped, current = 0, ""  # resident pages of .safetensors files still mapped into the process (Linux)
if os.path.exists("/proc/self/smaps"):
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if fields and "-" in fields[0] and ":" not in fields[0]:  # a mapping's header: range perms ... [path]
            current = fields[5] if len(fields) > 5 else ""
        elif fields and fields[0] == "Rss:" and current.endswith(".safetensors"):
            mapped += int(fields[1]) * 1024
print(json.dumps({"load": peaks["load"], "sample": peaks["sample"], "mapped": mapped,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "cuda": torch.cuda.max_memory_allocated() if cuda else None,
                  "weights": weight_bytes, "seconds": seconds}))
"""


def _fp8_child(name: str, weights: str) -> dict:
    max_len = 512 if "wan" in name else 226
    # As for the decode: glibc hands large freed blocks back at once, so the resident set follows live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    done = subprocess.run([sys.executable, "-c", _FP8_CHILD, name, weights, str(max_len)], capture_output=True,
                          text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fp8_memory(repeats: int) -> list[dict]:
    """Peak memory of a fresh process per run, fp32 and fp8 in turn (the first alternating)."""
    import torch

    cuda = torch.cuda.is_available() and os.environ.get("DV_DEVICE", "cuda") != "cpu"
    rows = []
    for name in ("tiny-wan", MEDIUM_NAME):
        runs: dict[str, list[dict]] = {"as dtype": [], "fp8_e4m3fn": []}
        for i in range(repeats):
            for weights in (("as dtype", "fp8_e4m3fn") if i % 2 == 0 else ("fp8_e4m3fn", "as dtype")):
                runs[weights].append(_fp8_child(name, weights))
        fp32, fp8 = runs["as dtype"], runs["fp8_e4m3fn"]
        mib = lambda key, rs: [r[key] / 2**20 for r in rs]  # noqa: E731
        key = "cuda" if cuda else "sample"
        per_pair = ratios([r[key] for r in fp8], [r[key] for r in fp32])
        rows.append({"model": name, "runs": repeats,
                     "weights MiB fp32 / fp8": f"{fp32[0]['weights'] / 2**20:.1f} / {fp8[0]['weights'] / 2**20:.1f}",
                     "load + encode peak MiB fp32 (min / med / max)": spread(mib("load", fp32), 0),
                     "load + encode peak MiB fp8": spread(mib("load", fp8), 0),
                     ("sampling peak MiB fp32 (CUDA allocated)" if cuda else "sampling peak RSS MiB fp32"):
                         spread(mib(key, fp32), 0),
                     ("sampling peak MiB fp8 (CUDA allocated)" if cuda else "sampling peak RSS MiB fp8"):
                         spread(mib(key, fp8), 0),
                     "sampling peak fp8/fp32 (min / med / max)": spread(per_pair, 2),
                     ".safetensors still mapped after sampling MiB fp32 / fp8":
                         f"{statistics.median(r['mapped'] for r in fp32) / 2**20:.0f} / "
                         f"{statistics.median(r['mapped'] for r in fp8) / 2**20:.0f}",
                     "sampling s fp32 / fp8 (median)": f"{statistics.median(r['seconds'] for r in fp32):.2f} / "
                                                       f"{statistics.median(r['seconds'] for r in fp8):.2f}"})
    return rows


# ------------------------------------------------------------------------------- 5. import and reloads


def import_and_reloads(repeats: int) -> list[dict]:
    code = ("import sys, time; t = time.perf_counter(); import diffusers_video; "
            "print(time.perf_counter() - t, 'diffusers' in sys.modules, 'transformers' in sys.modules)")
    times, heavy = [], False
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        heavy = heavy or out[1] == "True" or out[2] == "True"
    seconds = statistics.median(times)

    from diffusers_video import NODE_CLASS_MAPPINGS
    from diffusers_video.model_loaders import loading
    from diffusers_video.runner.demo import load_example, substitute_tiny_model
    from diffusers_video.runner.executor import Executor

    prompt, workflow = load_example()
    substitute_tiny_model(prompt, workflow, 2)
    for node in prompt.values():
        if node["class_type"] == "DVSampler":
            node["inputs"].update(width=64, height=48, num_frames=9)
    loads = {"n": 0}
    real = loading.load_pipeline_folder

    def counting(*args, **kwargs):
        loads["n"] += 1
        return real(*args, **kwargs)

    loading.load_pipeline_folder = counting
    try:
        with tempfile.TemporaryDirectory() as out:
            os.environ["DV_OUTPUT_DIR"] = out
            executor = Executor(NODE_CLASS_MAPPINGS)
            executor.run(prompt, {"workflow": workflow})
            first = loads["n"]
            executor.run(prompt, {"workflow": workflow})
    finally:
        loading.load_pipeline_folder = real
    reloads = loads["n"] - first
    return [{"measure": "import diffusers_video", "value": f"{spread(times)} s (min / med / max, {repeats} fresh "
             "processes)", "target": "< 0.3 s (median)", "met": "yes" if seconds < 0.3 and not heavy else "no",
             "note": "diffusers/transformers imported: " + ("yes" if heavy else "no")},
            {"measure": "model loads on re-queue", "value": str(reloads), "target": "0",
             "met": "yes" if reloads == 0 else "no", "note": f"first run loaded {first}"}]


# ------------------------------------------------------------------------------ 6. re-queue on a server


def _load_by_path(name: str, path: Path) -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def server_requeue() -> tuple[list[dict], str]:
    """The shipped CogVideoX example (made tiny as the live tests make it) queued on a real ComfyUI server,
    then queued again with only the seed changed. (rows, note); without COMFYUI_PATH, no rows and why."""
    comfyui = os.environ.get("COMFYUI_PATH")
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    if not comfyui:
        return [], ("Skipped: COMFYUI_PATH is not set. Set it to a ComfyUI checkout (and COMFYUI_PYTHON to the "
                    "interpreter with ComfyUI's requirements and this pack installed) to measure this.")
    if not os.path.isfile(os.path.join(comfyui, "main.py")):
        return [], f"Skipped: COMFYUI_PATH={comfyui} is not a ComfyUI checkout (no main.py)."
    if not os.path.isfile(python):
        return [], f"Skipped: COMFYUI_PYTHON={python} does not exist."
    import re

    from diffusers_video.runner import comfy_client
    from diffusers_video.tiny_models.cache import install_into_models_dir

    # The live tests' server helpers and their tiny version of the example, reused rather than copied (their
    # module imports a helper of tests/, which tests/conftest.py puts on the path).
    sys.path.insert(0, str(REPO / "tests"))
    live = _load_by_path("dv_bench_live_conftest", REPO / "tests" / "live" / "conftest.py")
    live_host = _load_by_path("dv_bench_live_host", REPO / "tests" / "live" / "test_live_host.py")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        custom_nodes, models = base / "custom_nodes", base / "models"
        custom_nodes.mkdir()
        (custom_nodes / live.PACK_FOLDER).symlink_to(REPO, target_is_directory=True)
        install_into_models_dir(str(models), family_id="cogvideox", name="tiny-cogvideox")
        for folder in ("output", "input", "temp", "user"):
            (base / folder).mkdir()
        yaml_path = base / "extra_model_paths.yaml"
        live._write_extra_model_paths(yaml_path, models, custom_nodes)
        log_path = base / "comfyui.log"
        args = ["--extra-model-paths-config", str(yaml_path), "--output-directory", str(base / "output"),
                "--input-directory", str(base / "input"), "--temp-directory", str(base / "temp"),
                "--user-directory", str(base / "user"), "--preview-method", "latent2rgb"]
        env_before = os.environ.get("PYTHONUNBUFFERED")
        os.environ["PYTHONUNBUFFERED"] = "1"  # the server's log is complete when a prompt has finished
        try:
            process, url = comfy_client.start_server(comfyui, extra_args=args, python=python,
                                                     log_path=str(log_path), timeout=live.START_TIMEOUT)
        finally:
            if env_before is None:
                os.environ.pop("PYTHONUNBUFFERED", None)
            else:
                os.environ["PYTHONUNBUFFERED"] = env_before
        try:
            comfy = live.LiveComfy(url, base, log_path, log_path.read_text(errors="replace"), process)
            prompt, workflow = live_host.example()
            runs = []
            for seed in (42, 43):  # the second run differs from the first in the seed only
                prompt["3"]["inputs"]["seed"] = seed
                before = len(comfy.log())
                start = time.perf_counter()
                entry = comfy.run(prompt, workflow)
                seconds = time.perf_counter() - start
                log = comfy.log()[before:]
                cached = {node for kind, data in entry["status"]["messages"] if kind == "execution_cached"
                          for node in data.get("nodes", [])}
                ran = [node for node in prompt if node not in cached]
                runs.append({
                    "seconds": seconds,
                    "device loads": len(re.findall(r"Requested to load (\S+)", log)),
                    "loaded": sorted(set(re.findall(r"Requested to load (\S+)", log))),
                    "loader runs": sum(prompt[n]["class_type"] == "DVPipelineLoader" for n in ran),
                    "text encodes": sum(prompt[n]["class_type"] == "DVTextEncode" for n in ran),
                    "ran": sorted(prompt[n]["class_type"] for n in ran),
                    "models": [row["class"] for row in comfy.loaded_models()]})
        except BaseException as error:  # noqa: BLE001 - pytest.fail's Failed too: the section says what happened
            return [], f"Failed: {type(error).__name__}: {str(error)[:800]}"
        finally:
            comfy_client.stop_server(process)
    version = subprocess.run([python, "-c", "import comfyui_version; print(comfyui_version.__version__)"],
                             cwd=comfyui, capture_output=True, text=True).stdout.strip() or "?"
    rows = []
    for label, run in zip(("first run (seed 42)", "re-queue, seed 43 only"), runs, strict=True):
        rows.append({"run": label, "nodes that ran": ", ".join(run["ran"]),
                     "model loads (DVPipelineLoader runs)": run["loader runs"],
                     "models moved to the device (\"Requested to load\")": f"{run['device loads']} "
                     f"({', '.join(run['loaded']) or '-'})",
                     "text encodes": run["text encodes"], "seconds": f"{run['seconds']:.2f}"})
    second = runs[1]
    met = second["loader runs"] == 0 and second["device loads"] == 0 and second["text encodes"] == 0
    rows[0]["target"] = ""
    rows[1]["target"] = "0 loads, 0 text encodes: " + ("met" if met else "NOT met")
    note = (f"ComfyUI {version} at COMFYUI_PATH, started with `--cpu --preview-method latent2rgb` and the pack "
            "linked into a custom_nodes folder, the tiny CogVideoX in its models folder (as tests/live starts "
            "it). The shipped example `example_workflows/api/cogvideox_text_to_video.json`, made tiny as the "
            "live tests make it (2 steps, 64x48, 9 frames), is queued, then queued again with only the seed "
            "changed. Counted from the server: the nodes ComfyUI ran rather than took from its cache (the "
            "`execution_cached` message of /history), and the log's \"Requested to load\" lines, which ComfyUI's "
            "memory manager writes for each model it has to bring in. Models loaded at the end: "
            f"{', '.join(second['models']) or 'none'}.")
    return rows, note


# ------------------------------------------------------------------------------------------- output


def table(rows: list[dict]) -> str:
    if not rows:
        return "(nothing measured)\n"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


FP8_NOTE = (
    "Each run is a fresh process: DVPipelineLoader at fp32 with weights \"as dtype\" or \"fp8_e4m3fn\" "
    "(diffusers' layerwise casting: fp8 storage, each layer cast up to fp32 for its forward), DVTextEncode, then "
    "DVSampler for 2 steps at 64x64, 9 frames, guidance 5. fp32 and fp8 runs alternate, the first of each pair "
    "alternating too. On the CPU the figures are the process's resident set, sampled every 2 ms with glibc told "
    "to return large freed blocks at once: its peak while loading and encoding, and while sampling. On a GPU the "
    "sampling column is torch.cuda.max_memory_allocated. The resident set includes the Python and torch runtime, "
    "the text encoder and the VAE; the weights column gives the denoiser's parameter bytes for comparison.\n\n"
    "Read plainly: on the CPU, fp8 storage of a model saved at fp32 does not lower the peak here, it raises it. "
    "diffusers loads fp32 safetensors weights as views of the memory-mapped file (the fp32 runs' weights are "
    "that mapping, see the mapped column). In the fp8 runs the layers layerwise casting keeps at fp32 (norms, "
    "including the adaptive-norm linears, the patch embedding, the output projection) are still views of the "
    "mapping, so the whole file stays mapped, and the cast has read every page of it: the fp8 copies come on "
    "top. Those file pages are clean and the kernel may drop them under memory pressure, but they are resident. "
    "On a GPU the weights moved to the device are copies, so the GPU peak is where fp8 saves memory (this "
    "machine has no GPU to show it).")


def cache_note(rows: list[dict], repeats: int) -> str:
    note = ("8 steps, guidance 5, 64x64, 9 frames. Attention calls counted at the query projections. Settings: "
            "the diffusers cache config each row installs (its thresholds, skip ranges and timestep windows; "
            "FasterCache's other fields at diffusers' defaults, shown as installed). Time: cached and plain "
            f"runs in {repeats} pairs, the first alternating; the ratio is cached/plain pair by pair.")
    slower = [r for r in rows if r["remark"]]
    if slower:
        note += (" Where a cache is slower, or not surely faster (the remark column): " + ", ".join(
                 f"{r['cache']} on {r['model']} ({r['remark']})" for r in slower) + ". For the attention caches "
                 "(PyramidAttentionBroadcast, FasterCache) the attention share column says why: on this CPU, "
                 "at 64x64 and 9 frames, the attention modules (self and cross, "
                 "timed with hooks in a plain run) are only that part of a run; the feed-forward layers, norms, "
                 "projections, text encode and scheduler run in full on every step. Skipping the shown fraction "
                 "of attention calls can save at most share x skipped of the time, while the cache's hooks run on "
                 "every call of the blocks they wrap, skipped or not (a timestep callback and a cache-state "
                 "lookup each). Where the saving is that small, the bookkeeping and the machine's noise outweigh "
                 "it. Where attention dominates a step (long sequences on a GPU) the balance differs; this table "
                 "does not measure that. Step caches aim at GPUs and real sizes.")
    return note


HOW_TO_RUN = """## Running these

`python benchmarks/run.py` (after `pip install -e ".[bench]"`; `--quick` for fewer repeats and smaller decodes,
`--out DIR` to write elsewhere) measures sections 1-5 on the machine it runs on and rewrites this file and
`decode_memory.png`. Section 6 needs a ComfyUI checkout with this pack's requirements installed in its Python:

```bash
COMFYUI_PATH=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/ComfyUI/venv/bin/python python benchmarks/run.py
```

It starts that ComfyUI on a free port the way tests/live does (`--cpu`, previews on, the pack linked into a
custom_nodes folder of a temporary extra_model_paths.yaml, the tiny CogVideoX as its only model) and stops it
afterwards.
"""

GPU_CHECK_DOC = """## GPU check: every family at its released size (`benchmarks/gpu_check.py`)

For a machine with a CUDA GPU (this one has none, so no figures are shown here). From a clone of the
repository, with a torch built for the machine's CUDA:

```bash
python -m venv .venv && .venv/bin/pip install torch -e ".[test,bench]"
.venv/bin/python benchmarks/gpu_check.py --out benchmarks/gpu_check_report.md
```

It runs unattended in at most about ten minutes (`--budget 570` seconds in all, `--timeout 150` per family;
a family that fails or runs out of time is reported with the reason and the next one runs), downloads
nothing, and writes one markdown file, `benchmarks/gpu_check_report.md` by default. For each family, in a
process of its own, it builds one released model (the first of the family in `memory/released.py`:
CogVideoX-2b, Wan2.1-T2V-1.3B, LTX-Video 0.9.1, HunyuanVideo, Mochi-1, SVD-XT, AnimateDiff v1-5-2, I2VGen-XL,
ModelScope 1.7b; `--release NAME` picks another, e.g. `--release Wan2.1-T2V-14B`) from its published configs
with random weights, materialised on the GPU and parked on the CPU as from_pretrained leaves them, and runs
DVTextEncode -> DVSampler -> DVVAEDecode at 256x256, a few frames, 2 steps, with previews on (a torch
latent-to-RGB previewer stands in for ComfyUI's). The report has a row per family:

- the peak of torch.cuda.max_memory_allocated over DVSampler against the peak the automatic offload plan
  predicts for the same moment (`auto_offload.choose`), their ratio and the plan chosen;
- seconds per step, and the graph's time against the family's bare diffusers pipeline on the same modules
  (with `enable_model_cpu_offload`);
- the frames' max |diff| against that pipeline, and whether they match (1e-5 at fp32, 2e-2 in 16 bits);
- previews made per run, and the status; failures' tracebacks follow the table.

Host memory must hold the release's modules in 16 bits between nodes (HunyuanVideo, the largest default:
about 42 GB). `--family wan` checks one family, `--pairs 2` times each side twice with the order swapped.
`--tiny` runs the same code on the CPU with the tiny models' configs (about a minute and a half on 2 CPUs;
tests/test_gpu_check.py runs it, so the script cannot rot); there the peak column is the denoiser's weight
bytes plus the resident set's growth while DVSampler runs.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller decodes")
    parser.add_argument("--out", default=str(REPO / "docs"), help="where benchmarks.md and the plot go")
    args = parser.parse_args(argv)
    os.environ.setdefault("DV_PROGRESS", "0")
    load_at_start = os.getloadavg()[0]
    repeats = 2 if args.quick else 6  # even: each side goes first equally often
    fp8_runs = 1 if args.quick else 3
    models_dir()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections = []

    def section(title: str, rows: list[dict], note: str = "") -> None:
        text = f"## {title}\n\n{note}\n\n{table(rows)}" if note else f"## {title}\n\n{table(rows)}"
        print(text)
        sections.append(text)

    section("1. Overhead: node graph vs CogVideoXPipeline", overhead(repeats, 4),
            f"Text encode + 4 steps + decode at 96x64, 9 frames, on the same loaded modules; {repeats} pairs "
            "after one warm-up run of each side, the side that runs first alternating from pair to pair. The "
            "ratio is taken pair by pair; the target applies to its median.")
    frames, height, width = (5, 30, 45) if args.quick else (7, 60, 90)
    decode_rows = decode_memory(frames, height, width)
    section("2. Decode peak memory against decode_chunk_size", decode_rows,
            f"Tiny CogVideoX VAE, {frames} latent frames at {height * 8}x{width * 8}, one process per row; the "
            "last row is one full decode.")
    plot_decode(decode_rows, out / "decode_memory.png")
    cache_rows = step_caches(8, repeats)
    section("3. Step caches", cache_rows, cache_note(cache_rows, repeats))
    section("4. fp8 layerwise casting", fp8_memory(fp8_runs), FP8_NOTE)
    section("5. Import time and re-queue", import_and_reloads(repeats))
    rows, note = server_requeue()
    section("6. Re-queue through a real ComfyUI server", rows, note)
    info = machine()
    # Other work on the machine slows both sides of a pair alike, but widens every spread: say how busy it was.
    info["load average (1 min) at start / end"] = f"{load_at_start:.2f} / {os.getloadavg()[0]:.2f}"
    header = ("# Benchmarks\n\nMeasured by `python benchmarks/run.py` on "
              f"{time.strftime('%Y-%m-%d')}.\n\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()) + "\n\n"
              "![decode peak memory against chunk size](decode_memory.png)\n\n")
    (out / "benchmarks.md").write_text(header + "\n".join([*sections, HOW_TO_RUN, GPU_CHECK_DOC]),
                                       encoding="utf-8")
    print(f"wrote {out / 'benchmarks.md'} and {out / 'decode_memory.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
