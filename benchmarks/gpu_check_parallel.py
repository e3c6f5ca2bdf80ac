"""The multi-GPU part of benchmarks/gpu_check.py: one video over N ranks, and N seeds over N ranks.

gpu_check.py calls `run_section` when the machine has more than one GPU (NCCL, one GPU per rank) or when
`--parallel-ranks N` asks for N ranks (on a machine without enough GPUs, or with --tiny: gloo CPU processes,
so the path is tested without a GPU). For every model of the run whose family can be split (diffusers declares
a context-parallel plan for its denoiser and the pack does not refuse it: Wan2.1 and Wan2.2 among the checked
families; Wan2.2-T2V-A14B is added to the Wan run, both experts split) it runs the pack's headless paths as a
user would, through torchrun and dv-run:

1. one process, one device: the workflow once per seed, each a plain `dv-run run` (the reference);
2. `torchrun --nproc-per-node N ... run WORKFLOW --parallel ulysses --degree N`: the first seed's frames against
   the reference's (max |diff|), DVSampler's seconds against one device's (the speed-up), each rank's
   CUDA peak over DVSampler and the tokens each rank's first attention block attended over;
3. `torchrun --nproc-per-node N ... run WORKFLOW --seeds S1,...,SN`: each seed's frames against its own
   separate run.

The model is the one gpu_check measures (gpu_check_models.py, which both scripts import): every module built
from the release's published config and filled with seeded random values (no download, no weights on disk), the
same in every process, so the ranks and the reference hold the same weights. This file is also the program
torchrun starts: `dv-run`'s main with that model construction and the measurements hooked in
(`python gpu_check_parallel.py dv-run run ...`); it never imports gpu_check.py.

Host memory: weights on disk are shared between the ranks through the page cache, these random ones are not,
so each rank holds its own copy in RAM (Wan2.2-T2V-A14B: two 14B experts and UMT5-XXL, about 67 GB a rank in
bf16); on a host with less than that times the GPUs, fewer `--parallel-ranks`, or `--family wan --release
Wan2.1-T2V-1.3B --release Wan2.2-TI2V-5B` (a named Wan2.2 release takes the A14B's place).

Families that cannot be split are listed with the refusal the pack gives (checked from the configs, as dv-run
checks them before loading). In-server DVParallel is not driven: its worker processes are started by the
pool (parallel/pool.py) as fresh interpreters that rebuild the model from the prompt's loader node, so they
would load the weights on disk, not the random released-size modules rank 0 holds here; tests/test_parallel_pool.py
checks that path's frames on the tiny model.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_check_models import CASES, SEED, TOLERANCE, built, fitted_image_processor, mb, module_config, release_for, tail

HERE = Path(__file__).resolve().parent
TRACE_ENV, RELEASE_ENV = "DV_GPU_CHECK_TRACE", "DV_GPU_CHECK_RELEASE"
MODE = "ulysses"
# The Wan2.2 model the Wan run adds (both experts split in turn) unless a Wan2.2 release is named.
WAN22 = "Wan2.2-T2V-A14B"
# Tiny folders whose components match a release's (roles, experts, VAE), for its loader node.
TINY_OF_RELEASE = {"Wan2.2-T2V-A14B": "wan22_a14b", "Wan2.2-TI2V-5B": "wan22_ti2v_5b"}
NOT_DRIVEN = ("in-server DVParallel (worker pool): not driven here. The pool starts its workers as fresh "
              "interpreters (parallel/pool.py BOOT) that rebuild the model from the prompt's loader node, i.e. "
              "from the weights on disk, while this check's modules are random values of the released size built "
              "in memory: the workers would hold other weights than rank 0 (or need the whole model written to "
              "disk first). tests/test_parallel_pool.py checks that path's frames on the tiny Wan model "
              "(within 1e-5 of one process).")


# ------------------------------------------------------------------------------------- in every rank


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _record(event: dict[str, Any]) -> None:
    trace = Path(os.environ[TRACE_ENV])
    with open(trace / f"rank{_rank()}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")


def install_instruments() -> None:
    """What gpu_check measures, hooked into the pack for this process: the loader's modules replaced by ones
    built from the release's configs with seeded random values (the tiny folder's own configs under --tiny),
    the parallel precheck reading those configs, DVSampler timed (and its CUDA peak taken) per seed, the
    decoded frames saved, and the tokens the first attention block sees once the denoiser is split."""
    import torch
    from diffusers_video import host
    from diffusers_video.model_loaders import loading
    from diffusers_video.nodes.sampling import DVSampler
    from diffusers_video.nodes.vae import DVVAEDecode
    from diffusers_video.parallel import context, group, precheck

    release_name = os.environ.get(RELEASE_ENV) or None
    release = release_for("", release_name) if release_name else None
    plain_load = loading.load_pipeline_folder

    def load_pipeline_folder(*args: Any, **kwargs: Any) -> dict[str, Any]:
        loaded = plain_load(*args, **kwargs)
        comps = loaded["components"]
        specs = ({c.role: (c.library, c.class_name, dict(c.config)) for c in release.components} if release else
                 {role: module_config(m) for role, m in comps.items() if isinstance(m, torch.nn.Module)})
        for index, (role, spec) in enumerate(sorted(specs.items())):
            if role not in comps:
                raise RuntimeError(f"the loaded folder has no {role}; {release_name} needs it")
            dtype = next((p.dtype for p in comps[role].parameters() if p.is_floating_point()), torch.float32)
            comps[role] = built(*spec, dtype, SEED + index)
        fitted_image_processor(comps)
        return loaded

    loading.load_pipeline_folder = load_pipeline_folder
    if release is not None:
        denoisers = [c for c in release.components if c.role in release.denoisers]
        precheck._denoiser_configs = lambda _loader: [{**c.config, "_class_name": c.class_name} for c in denoisers]

    state: dict[str, Any] = {"seed": None}
    plain_sample, plain_decode, plain_enable = DVSampler.sample, DVVAEDecode.decode, context.enable
    cuda = host.torch_device().type == "cuda"

    def sample(self, *args: Any, **kwargs: Any):
        state["seed"] = kwargs.get("seed", args[6] if len(args) > 6 else None)  # model, width, ..., seed
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = plain_sample(self, *args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
        model = kwargs.get("model", args[0] if args else None)
        _record({"seed": state["seed"], "sampler_s": time.perf_counter() - start,
                 "peak": torch.cuda.max_memory_allocated() if cuda else None,
                 "dtype": str(model.managed.dtype).removeprefix("torch."), "device": str(host.torch_device())})
        return result

    def decode(self, *args: Any, **kwargs: Any):
        result = plain_decode(self, *args, **kwargs)
        ranks = group.current()
        if ranks is None or ranks.mode == "seeds" or ranks.rank == 0:  # one copy of each seed's frames
            torch.save(result[0].float().cpu(), Path(os.environ[TRACE_ENV]) / f"frames-{state['seed']}.pt")
        return result

    def enable(module: Any, mode: str, ranks: Any) -> None:
        plain_enable(module, mode, ranks)
        first = next((sub for name, sub in module.named_modules() if name.endswith("attn1")), None)
        if first is None:
            return
        seen: list[int] = []

        def tokens(_mod, args, kwargs):
            if not seen:
                hidden = args[0] if args else kwargs["hidden_states"]
                seen.append(int(hidden.shape[1]))
                _record({"tokens": seen[0], "expert": type(module).__name__, "id": id(module)})

        module._dv_gpu_check_hook = first.register_forward_pre_hook(tokens, with_kwargs=True)

    def disable(module: Any, plain_disable=context.disable) -> None:
        hook = getattr(module, "_dv_gpu_check_hook", None)
        if hook is not None:
            hook.remove()
            del module._dv_gpu_check_hook
        plain_disable(module)

    DVSampler.sample, DVVAEDecode.decode = sample, decode
    context.enable, context.disable = enable, disable


def rank_main(argv: list[str]) -> int:
    """`dv-run ARGS...` (what torchrun starts on every rank) or `separate WORKFLOW SEEDS ARGS...` (the
    reference: one plain dv-run per seed, one after another in this process)."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "tests"))
    from diffusers_video.runner.cli import main as dv_run

    install_instruments()
    if argv[0] == "dv-run":
        return dv_run(argv[1:])
    if argv[0] == "separate":
        workflow, seeds, rest = argv[1], argv[2].split(","), argv[3:]
        for seed in seeds:
            code = dv_run(["run", workflow, "--in-process", "--set", f"3.seed={seed}", *rest])
            if code:
                return code
        return 0
    raise SystemExit(f"unknown mode {argv[0]!r}")


# ------------------------------------------------------------------------------------------- parent


def ranks_wanted(args: Any) -> tuple[int, str, str]:
    """(ranks, backend, why): 0 ranks when the section is skipped, `why` then saying so."""
    import torch

    gpus = 0 if args.tiny else torch.cuda.device_count()
    if args.parallel_ranks:
        if args.parallel_ranks < 2:
            return 0, "", f"multi-GPU: skipped, --parallel-ranks {args.parallel_ranks} (at least 2 ranks)"
        if not args.tiny and gpus < args.parallel_ranks:  # released sizes on CPU ranks would take hours
            return 0, "", (f"multi-GPU: skipped, --parallel-ranks {args.parallel_ranks} with {gpus} GPU"
                           f"{'' if gpus == 1 else 's'} (CPU ranks only with --tiny)")
        if gpus >= args.parallel_ranks:
            return args.parallel_ranks, "nccl", f"{args.parallel_ranks} of {gpus} GPUs (--parallel-ranks)"
        return args.parallel_ranks, "gloo", (f"{args.parallel_ranks} gloo CPU processes (--parallel-ranks; "
                                             f"{gpus} GPU{'' if gpus == 1 else 's'} in use)")
    if gpus > 1:
        return gpus, "nccl", f"{gpus} GPUs, NCCL"
    note = " (--tiny runs on the CPU)" if args.tiny else ""
    return 0, "", (f"multi-GPU: skipped, {gpus} GPU{'' if gpus == 1 else 's'}{note}; --parallel-ranks N runs it "
                   "on N ranks (gloo CPU processes where there are fewer GPUs)")


def targets(runs: list[tuple[str, str | None]]) -> list[tuple[str, str | None, str]]:
    """(family, release or None, tiny builder) of every model the multi-GPU part covers: each run of the
    single-GPU part, and Wan2.2-T2V-A14B with Wan."""
    found = [(family, release, TINY_OF_RELEASE.get(release or "", CASES[family].tiny)) for family, release in runs]
    if any(family == "wan" for family, _ in runs) and not any((r or "").startswith("Wan2.2") for _, r in runs):
        found.append(("wan", WAN22, TINY_OF_RELEASE[WAN22]))
    return found


def label(family: str, release: str | None, tiny: str, tiny_mode: bool) -> str:
    if tiny_mode:
        return f"tiny-{tiny}" + (f" (as {release})" if release else "")
    return release or release_for(family).name


def refusal(family: str, release: str | None, tiny: str, tiny_mode: bool, degree: int, backend: str) -> str | None:
    """The pack's refusal for this model split over `degree` ranks (checked from the configs as dv-run checks
    them before loading), or None when it can run."""
    import diffusers
    from diffusers_video.errors import DVInputError
    from diffusers_video.families import by_id
    from diffusers_video.parallel import context, group

    case = CASES[family]
    fam = by_id(family)
    if tiny_mode:
        from diffusers_video.tiny_models.cache import tiny_model_path

        folder = Path(tiny_model_path(tiny))
        configs = [json.loads((folder / sub / "config.json").read_text()) for sub in ("transformer", "transformer_2",
                                                                                       "unet")
                   if (folder / sub / "config.json").is_file()]
    else:
        rel = release_for(family, release)
        configs = [{**c.config, "_class_name": c.class_name} for c in rel.components if c.role in rel.denoisers]
    shot = case.shot(tiny_mode)
    g = fam.geometry
    latent = ((shot.frames - 1) // g.temporal + 1, shot.height // g.spatial, shot.width // g.spatial)
    ranks = group.Ranks(0, degree, 0, backend, MODE, degree)
    if not configs:
        configs = [{"_class_name": fam.model_classes[0]}]
    try:
        for config in configs:
            context.check(getattr(diffusers, config.get("_class_name", ""), None), config, fam, ranks, latent)
    except DVInputError as error:
        return str(error)
    if case.image or (not tiny_mode and any(c.role == "image_encoder" for c in rel.components)):
        return "image-to-video: the multi-GPU workflow of this check has no image input"
    return None


def workflow(family: str, tiny: str, tiny_mode: bool) -> dict[str, Any]:
    """The API prompt: loader -> text encode -> sampler -> decode -> a temp video (the output node that makes
    the graph run; the frames compared are DVVAEDecode's, saved by the instruments at full precision)."""
    shot = CASES[family].shot(tiny_mode)
    return {
        "1": {"class_type": "DVPipelineLoader", "inputs": {"model": f"tiny-{tiny}", "dtype": "auto",
                                                           "weights": "as dtype"}},
        "2": {"class_type": "DVTextEncode", "inputs": {"text_encoder": ["1", 2], "prompt": shot.prompt or "",
                                                       "negative_prompt": shot.negative,
                                                       "max_sequence_length": shot.max_len,
                                                       "truncate_long_prompt": True}},
        "3": {"class_type": "DVSampler", "inputs": {"model": ["1", 0], "conditioning": ["2", 0], "width": shot.width,
                                                    "height": shot.height, "num_frames": shot.frames,
                                                    "num_inference_steps": shot.steps,
                                                    "guidance_scale": shot.guidance, "seed": shot.seed,
                                                    "scheduler": ["1", 3]}},
        "4": {"class_type": "DVVAEDecode", "inputs": {"vae": ["1", 1], "samples": ["3", 0], "decode_chunk_size": 0,
                                                      "tiling": "auto", "tile_sample_size": 0, "tile_overlap": 0.0,
                                                      "memory": "as set"}},
        "5": {"class_type": "DVVideoCombine", "inputs": {"images": ["4", 0], "fps": 8.0,
                                                         "filename_prefix": "gpu_check/parallel",
                                                         "format": "video/h264-mp4", "crf": 19, "loop_count": 0,
                                                         "pingpong": False, "save_output": False}},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(command: list[str], env: dict[str, str], timeout: float) -> tuple[int | str, float, str]:
    """(exit code or 'timed out', seconds, stderr's tail), the whole process group killed at the timeout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        _, err = process.communicate(timeout=timeout)
        code: int | str = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        code = f"timed out after {timeout:.0f} s"
    return code, time.perf_counter() - started, tail(err)


def _events(trace: Path) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for path in sorted(trace.glob("rank*.jsonl")):
        found[int(path.stem[4:])] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return found


def _frames(trace: Path, seed: int) -> Any:
    import torch

    path = trace / f"frames-{seed}.pt"
    return torch.load(path) if path.is_file() else None


def _diff(a: Any, b: Any) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return None
    return (a - b).abs().max().item()


def check_model(family: str, release: str | None, tiny: str, args: Any, degree: int, backend: str,
                scratch: Path, env: dict[str, str], deadline: float) -> dict[str, Any]:
    """The three runs of one model (reference, Ulysses, seeds) and what they measured; each run may take what
    is left of the section's budget (`deadline`, a perf_counter time)."""
    from diffusers_video.tiny_models.cache import install_into_models_dir

    models = env["DV_MODELS_DIR"]
    install_into_models_dir(models, tiny, f"tiny-{tiny}")
    folder = scratch / f"{family}-{tiny}-{release or 'default'}"
    folder.mkdir(parents=True)
    prompt = folder / "workflow.json"
    prompt.write_text(json.dumps(workflow(family, tiny, args.tiny), indent=1))
    seeds = [SEED + i for i in range(degree)]
    release_name = None if args.tiny else (release or release_for(family).name)
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    me = str(Path(__file__).resolve())
    result: dict[str, Any] = {"seed_list": seeds, "runs": {}}
    commands = {
        "separate": [sys.executable, me, "separate", str(prompt), ",".join(map(str, seeds))],
        "ulysses": [torchrun, "--nproc-per-node", str(degree), "--master-port", str(_free_port()), me, "dv-run",
                    "run", str(prompt), "--parallel", MODE, "--degree", str(degree)],
        "seeds": [torchrun, "--nproc-per-node", str(degree), "--master-port", str(_free_port()), me, "dv-run",
                  "run", str(prompt), "--seeds", ",".join(map(str, seeds))],
    }
    for name, command in commands.items():
        trace = folder / name
        trace.mkdir()
        run_env = {**env, TRACE_ENV: str(trace), RELEASE_ENV: release_name or "", "DV_PROGRESS": "0"}
        if backend == "gloo":
            run_env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")  # CPU ranks, even on a GPU machine
        elif name == "separate":
            run_env["CUDA_VISIBLE_DEVICES"] = run_env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        command = [*command, "--output-dir", str(folder / f"{name}-out"), "--models-dir", models]
        code, seconds, err = _launch(command, run_env, max(1.0, deadline - time.perf_counter()))
        result["runs"][name] = {"code": code, "seconds": seconds, "error": err if code else "",
                                "events": _events(trace), "trace": trace}
        if code:
            break
    return summarise(result, degree)


def summarise(result: dict[str, Any], degree: int) -> dict[str, Any]:
    runs, seeds = result["runs"], result["seed_list"]
    failed = next(((name, r) for name, r in runs.items() if r["code"]), None)
    out: dict[str, Any] = {"status": "ok", "notes": [], "seed_list": seeds}
    if failed:
        name, r = failed
        code = r["code"] if isinstance(r["code"], str) else f"exit code {r['code']}"
        out["status"] = f"{name} run failed ({code})"
        out["notes"].append(r["error"])
    alone = runs.get("separate")
    if alone is None or alone["code"]:
        return out
    reference = {seed: _frames(alone["trace"], seed) for seed in seeds}
    alone_events = {e["seed"]: e for e in alone["events"].get(0, []) if "seed" in e}
    first = alone_events.get(seeds[0], {})
    dtype = first.get("dtype", "?")
    out.update(dtype=dtype, tolerance=TOLERANCE["fp32" if dtype == "float32" else "reduced"],
               single_s=first.get("sampler_s"), single_run_s=alone["seconds"],
               single_peak=first.get("peak"), separate_s=sum(e["sampler_s"] for e in alone_events.values()))
    split = runs.get("ulysses")
    if split is not None and not split["code"]:
        events = split["events"]
        per_rank = {rank: ([e for e in evs if "seed" in e] or [{}])[0] for rank, evs in events.items()}
        tokens = {rank: sorted({e["tokens"] for e in evs if "tokens" in e}) for rank, evs in events.items()}
        parallel_s = per_rank.get(0, {}).get("sampler_s")
        diff = _diff(_frames(split["trace"], seeds[0]), reference[seeds[0]])
        out["ulysses"] = {"max_diff": diff, "match": diff is not None and diff <= out["tolerance"],
                          "parallel_s": parallel_s, "run_s": split["seconds"],
                          "speedup": (out["single_s"] / parallel_s) if parallel_s and out["single_s"] else None,
                          "peaks": [per_rank.get(r, {}).get("peak") for r in range(degree)],
                          "tokens": [tokens.get(r, []) for r in range(degree)]}
    several = runs.get("seeds")
    if several is not None and not several["code"]:
        diffs = {seed: _diff(_frames(several["trace"], seed), reference[seed]) for seed in seeds}
        slowest = max((sum(e["sampler_s"] for e in evs if "seed" in e) for evs in several["events"].values()),
                      default=None)
        ranks_of = {e["seed"]: rank for rank, evs in several["events"].items() for e in evs if "seed" in e}
        equal = all(d is not None and d <= out["tolerance"] for d in diffs.values())
        out["seeds_run"] = {"diffs": diffs, "match": equal, "parallel_s": slowest, "run_s": several["seconds"],
                            "ranks": ranks_of}
    return out


def run_section(args: Any, runs: list[tuple[str, str | None]], env: dict[str, str], budget: float
                ) -> dict[str, Any]:
    """The multi-GPU section's data: what ran where, per model its measurements or its refusal."""
    degree, backend, why = ranks_wanted(args)
    if not degree:
        return {"skipped": why}
    import tempfile

    started = time.perf_counter()
    entries = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-parallel-") as scratch:
        for family, release, tiny in targets(runs):
            name = label(family, release, tiny, args.tiny)
            entry: dict[str, Any] = {"model": name, "family": family}
            try:
                entry["refused"] = refusal(family, release, tiny, args.tiny, degree, backend)
            except Exception as error:  # noqa: BLE001 - the report says what failed; the next model runs
                entry["refused"] = f"could not be checked: {type(error).__name__}: {error}"
            if entry["refused"] is None:
                left = budget - (time.perf_counter() - started)
                if left < 30:
                    entry.update(status="not run: the multi-GPU time budget was spent", notes=[])
                else:
                    shot = CASES[family].shot(args.tiny)
                    entry["size"] = f"{shot.width}x{shot.height}x{shot.frames}"
                    entry.update(check_model(family, release, tiny, args, degree, backend, Path(scratch), env,
                                             started + budget))
                print(f"multi-GPU {name}: {entry['status']}", flush=True)
            entries.append(entry)
    return {"degree": degree, "backend": backend, "why": why, "entries": entries,
            "seconds": time.perf_counter() - started}


# ------------------------------------------------------------------------------------------- report


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _diff_text(value: float | None) -> str:
    return "shape differs or missing" if value is None else f"{value:.2e}"


def render(section: dict[str, Any]) -> list[str]:
    """The report's "multi-GPU" section (markdown lines)."""
    lines = ["## multi-GPU", ""]
    if "skipped" in section:
        return lines + [section["skipped"], ""]
    n, gpu = section["degree"], section["backend"] == "nccl"
    lines += [f"{section['why']}; {section['seconds']:.0f} s in all. Each model: its workflow (DVPipelineLoader -> "
              "DVTextEncode -> DVSampler -> DVVAEDecode) run once per seed in one process on one device (the "
              f"reference), then `torchrun --nproc-per-node {n} $(which dv-run) run WORKFLOW --parallel {MODE} "
              f"--degree {n}` and `torchrun --nproc-per-node {n} $(which dv-run) run WORKFLOW --seeds "
              f"S1,...,S{n}` (dv-run with this check's model construction and measurements hooked in: "
              "benchmarks/gpu_check_parallel.py).", ""]
    ran = [e for e in section["entries"] if e["refused"] is None]
    head = ["model", "WxHxF", "dtype", "tokens per rank (first attention)", "frames max abs diff vs 1 device",
            "frames match", "DVSampler s, 1 device", f"DVSampler s, {n} ranks", "speed-up",
            f"process s: reference ({n} videos) / {n} ranks (1 video)", "peak MB per rank (CUDA allocated)",
            "status"]
    lines += [f"### One video over {n} ranks ({MODE})", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for e in ran:
        u = e.get("ulysses")
        if u is None:
            row = [e["model"], e.get("size", "-")] + ["-"] * (len(head) - 3) + [e["status"]]
            row[head.index("frames match")] = "no"
        else:
            tokens = " / ".join(",".join(map(str, t)) or "?" for t in u["tokens"])
            peaks = " / ".join(mb(p) for p in u["peaks"]) if gpu else "n/a (CPU ranks)"
            row = [e["model"], e["size"], e["dtype"], tokens, _diff_text(u["max_diff"]), "yes" if u["match"] else "no",
                   _s(e["single_s"]), _s(u["parallel_s"]), "n/a" if u["speedup"] is None else f"{u['speedup']:.2f}x",
                   f"{_s(e['single_run_s'])} / {_s(u['run_s'])}", peaks, e["status"]]
        lines.append("| " + " | ".join(row) + " |")
        if e["status"] != "ok":
            notes += [f"#### {e['model']}: {e['status']}", "", "```", *e.get("notes", []), "```", ""]
    seed_head = ["model", "seeds (rank)", "max abs diff per seed vs its separate run", "seeds equal",
                 "DVSampler s, separate runs (sum)", f"DVSampler s, {n} ranks (slowest rank)",
                 f"process s, {n} ranks", "status"]
    lines += ["", f"### {n} seeds over {n} ranks (--seeds)", "", "| " + " | ".join(seed_head) + " |",
              "|" + "---|" * len(seed_head)]
    for e in ran:
        s = e.get("seeds_run")
        if s is None:
            row = [e["model"]] + ["-"] * (len(seed_head) - 2) + [e["status"]]
            row[seed_head.index("seeds equal")] = "no"
        else:
            row = [e["model"], ", ".join(f"{seed} ({s['ranks'].get(seed, '?')})" for seed in e["seed_list"]),
                   ", ".join(f"{seed}: {_diff_text(d)}" for seed, d in s["diffs"].items()),
                   "yes" if s["match"] else "no", _s(e["separate_s"]), _s(s["parallel_s"]), _s(s["run_s"]),
                   e["status"]]
        lines.append("| " + " | ".join(row) + " |")
    tolerance = ", ".join(sorted({f"{e['tolerance']:g} ({e['dtype']})" for e in ran if "tolerance" in e}))
    lines += ["", f"Frames match within {tolerance or 'the fp32/16-bit tolerances of the table above'}. The "
              "speed-up is DVSampler's seconds on one device over rank 0's on "
              f"{n} (the first run of each process, at this check's small size, so it understates what long "
              "sequences gain; docs/scaling.md predicts those); process s is a process's (torchrun's) whole time, "
              "model construction and imports included." + ("" if gpu else " CPU ranks share the cores (one "
                                                                     "thread each): their times say nothing about "
                                                                     "GPUs."), ""]
    refused = [e for e in section["entries"] if e["refused"] is not None]
    if refused:
        lines += ["### Not split (refused before loading)", ""]
        lines += [f"- {e['model']}: {e['refused']}" for e in refused]
        lines.append("")
    lines += ["### In-server DVParallel", "", NOT_DRIVEN, ""]
    if notes:
        lines += notes
    return lines


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1:]))
