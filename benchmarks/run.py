"""Benchmarks of the pack against plain diffusers, on this machine, in one run.

    python benchmarks/run.py [--quick] [--out docs]

Prints a table per measurement and writes docs/benchmarks.md (with the machine it ran on) and
docs/decode_memory.png. Every ratio compares runs made here, side by side, with the same model, inputs and
steps; nothing is asserted (the test suite holds no timings).

1. overhead: the node graph (DVTextEncode -> DVSampler -> DVVAEDecode) vs CogVideoXPipeline.__call__ on the
   same loaded modules, for the tiny CogVideoX and one of ~100M parameters. Target <= 1.02x.
2. decode peak memory per chunk size vs one full decode, each in a fresh process (peak RSS on CPU; CUDA's
   peak allocation on a GPU), and the time ratio. Target: chunk k of F peaks at <= k/F of full plus a constant.
3. step caches: transformer attention work skipped and time vs no cache.
4. fp8 layerwise casting: weight memory ratio.
5. pack import time (and that diffusers is not imported), and model reloads when an unchanged workflow is
   queued again. Targets: < 0.3 s, 0 reloads.
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
from pathlib import Path

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


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    graph_times, bare_times = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        graph_times.append(median_time(graph, 1))
        bare_times.append(median_time(bare, 1))
    g, b = statistics.median(graph_times), statistics.median(bare_times)
    return {"model": name, "parameters": f"{params / 1e6:.1f}M", "graph s": f"{g:.3f}", "diffusers s": f"{b:.3f}",
            "ratio": f"{g / b:.3f}", "target": "<= 1.02", "met": "yes" if g / b <= 1.02 else "no"}


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


def step_caches(steps: int, repeats: int) -> list[dict]:
    import torch
    from diffusers_video.nodes.loaders import DVPipelineLoader

    cases = [("tiny-wan", "FirstBlockCache", (0.9, 2, 100, 800)),
             ("tiny-wan", "PyramidAttentionBroadcast", (0.05, 2, -1, 1001)),
             (MEDIUM_NAME, "PyramidAttentionBroadcast", (0.05, 2, -1, 1001)),
             (MEDIUM_NAME, "FasterCache", (0.05, 2, -1, 1001))]
    loaded, rows = {}, []
    for name, cache, settings in cases:
        if name not in loaded:
            with torch.inference_mode():
                loaded[name] = DVPipelineLoader().load(name, "fp32")
        rows.append(_cache_row(loaded[name], name, cache, settings, steps, repeats))
    return rows


def _cache_row(parts, name: str, cache: str, settings: tuple, steps: int, repeats: int) -> dict:
    import torch
    from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
    from diffusers_video.nodes.speed import DVStepCache

    model, _, text_encoder, _ = parts
    max_len = 512 if "wan" in name else 226
    calls = {"n": 0}

    def count(*_):
        calls["n"] += 1

    hooks = [m.register_forward_hook(count) for n, m in model.module.named_modules() if n.endswith(".to_q")]

    def run(wire):
        with torch.inference_mode():
            (cond,) = DVTextEncode().encode(text_encoder, "waves at night", "blurry", max_len, True)
            return DVSampler().sample(wire, 64, 64, 9, steps, 5.0, 3, conditioning=cond)[0]["samples"]

    (cached,) = DVStepCache().apply(model, cache, *settings)
    try:
        run(model)
        calls["n"] = 0
        plain_out = run(model)
        plain_calls, calls["n"] = calls["n"], 0
        cached_out = run(cached)
        cached_calls = calls["n"]
        plain_t = median_time(lambda: run(model), repeats)
        cached_t = median_time(lambda: run(cached), repeats)
    finally:
        for hook in hooks:
            hook.remove()
    change = ((cached_out - plain_out).abs().mean() / plain_out.abs().mean()).item()
    return {"model": name, "cache": cache, "attention calls": f"{cached_calls}/{plain_calls}",
            "skipped": f"{1 - cached_calls / plain_calls:.0%}", "time ratio": f"{cached_t / plain_t:.2f}",
            "mean change": f"{change:.3f}"}


# ------------------------------------------------------------------------------------------- 4. fp8


def fp8_memory() -> list[dict]:
    import torch
    from diffusers_video.nodes.loaders import DVPipelineLoader

    rows = []
    for name in ("tiny-wan", MEDIUM_NAME):
        with torch.inference_mode():
            plain = DVPipelineLoader().load(name, "fp32")[0].module
            fp8 = DVPipelineLoader().load(name, "fp32", "fp8_e4m3fn")[0].module
        size = lambda m: sum(p.numel() * p.element_size() for p in m.parameters())  # noqa: E731
        rows.append({"model": name, "fp32 MiB": f"{size(plain) / 2**20:.1f}", "fp8 MiB": f"{size(fp8) / 2**20:.1f}",
                     "ratio": f"{size(fp8) / size(plain):.2f}"})
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
    return [{"measure": "import diffusers_video", "value": f"{seconds:.3f} s", "target": "< 0.3 s",
             "met": "yes" if seconds < 0.3 and not heavy else "no",
             "note": "diffusers/transformers imported: " + ("yes" if heavy else "no")},
            {"measure": "model loads on re-queue", "value": str(reloads), "target": "0",
             "met": "yes" if reloads == 0 else "no", "note": f"first run loaded {first}"}]


# ------------------------------------------------------------------------------------------- output


def table(rows: list[dict]) -> str:
    if not rows:
        return "(nothing measured)\n"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller decodes")
    parser.add_argument("--out", default=str(REPO / "docs"), help="where benchmarks.md and the plot go")
    args = parser.parse_args(argv)
    os.environ.setdefault("DV_PROGRESS", "0")
    repeats = 2 if args.quick else 5
    models_dir()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections = []

    def section(title: str, rows: list[dict], note: str = "") -> None:
        text = f"## {title}\n\n{note}\n\n{table(rows)}" if note else f"## {title}\n\n{table(rows)}"
        print(text)
        sections.append(text)

    section("1. Overhead: node graph vs CogVideoXPipeline", overhead(repeats, 4),
            "Text encode + 4 steps + decode at 96x64, 9 frames; median of interleaved runs.")
    frames, height, width = (5, 30, 45) if args.quick else (7, 60, 90)
    decode_rows = decode_memory(frames, height, width)
    section("2. Decode peak memory against decode_chunk_size", decode_rows,
            f"Tiny CogVideoX VAE, {frames} latent frames at {height * 8}x{width * 8}, one process per row; the "
            "last row is one full decode.")
    plot_decode(decode_rows, out / "decode_memory.png")
    section("3. Step caches", step_caches(8, repeats),
            "8 steps, guidance 5, 64x64, 9 frames. Attention calls counted at the query projections.")
    section("4. fp8 layerwise casting", fp8_memory())
    section("5. Import time and re-queue", import_and_reloads(repeats))
    info = machine()
    header = ("# Benchmarks\n\nMeasured by `python benchmarks/run.py` on "
              f"{time.strftime('%Y-%m-%d')}.\n\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()) + "\n\n"
              "![decode peak memory against chunk size](decode_memory.png)\n\n")
    (out / "benchmarks.md").write_text(header + "\n".join(sections), encoding="utf-8")
    print(f"wrote {out / 'benchmarks.md'} and {out / 'decode_memory.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
