"""One video over several processes (issue 13): diffusers' Ulysses context parallelism on CPU with gloo.

The torchrun tests run the shipped Wan example on the tiny model through `dv-run run --parallel ulysses`, 2
ranks on one "node" and as two torchrun "nodes" meeting at a c10d rendezvous on 127.0.0.1; the latent equals
the single-process run's, a hook on the first attention block shows each rank attended over half of the
sequence, and rank 0 alone wrote files. Refusals are checked from the configs, before any weight loads.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.parallel import context, group, precheck

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example_workflows", "api")
W, H, F = 64, 48, 9  # tiny Wan: latent 3 x 6 x 8, patches (1, 2, 2) -> 3 * 3 * 4 = 36 tokens
TOKENS = 36
GLOO2 = group.Ranks(0, 2, 0, "gloo", "ulysses", 2)

# torchrun runs this: dv-run's main, with a hook recording the sequence length the first attention block sees
# on each rank once parallelism is enabled (the proof that each rank worked on its share).
LAUNCHER = textwrap.dedent("""
    import os, sys
    from diffusers_video.parallel import context
    from diffusers_video.runner.cli import main

    plain_enable = context.enable

    def enable(module, mode, ranks):
        plain_enable(module, mode, ranks)
        path = os.path.join(os.environ["DV_TRACE_DIR"], f"rank{ranks.rank}.txt")
        def record(mod, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            with open(path, "a") as f:
                f.write(f"{hidden.shape[1]} {id(module)}\\n")
        module.blocks[0].attn1.register_forward_pre_hook(record, with_kwargs=True)

    context.enable = enable
    sys.exit(main(sys.argv[1:]))
""")


def _prompt(tmp_path, name: str = "tiny-wan", example: str = "wan_text_to_video", **sampler) -> str:
    with open(os.path.join(EXAMPLES, f"{example}.json"), encoding="utf-8") as f:
        prompt = json.load(f)
    prompt["1"]["inputs"]["model"] = name
    prompt["3"]["inputs"].update(width=W, height=H, num_frames=F, num_inference_steps=2)
    prompt["3"]["inputs"].update(sampler)
    prompt["6"] = {"class_type": "DVSaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "par/latent"}}
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps(prompt))
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _latent(out_dir) -> torch.Tensor:
    from safetensors.torch import load_file

    (name,) = [f for f in os.listdir(os.path.join(out_dir, "par")) if f.endswith(".safetensors")]
    return load_file(os.path.join(out_dir, "par", name))["samples"]


def _files(out_dir) -> list[str]:
    return sorted(os.path.relpath(os.path.join(root, f), out_dir) for root, _, fs in os.walk(out_dir) for f in fs)


@pytest.fixture(scope="module")
def wan_models(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    return tiny_models_dir


@pytest.fixture(scope="module")
def single(wan_models, tmp_path_factory):
    """The same workflow in one process, no --parallel: the reference."""
    tmp = tmp_path_factory.mktemp("single")
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-m", "diffusers_video.runner", "run", _prompt(tmp), "--in-process",
                           "--output-dir", str(out), "--models-dir", wan_models],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "DV_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    return _latent(out)


def _torchrun(tmp, models: str, node_args: list[list[str]], prompt: str | None = None
              ) -> tuple[list[subprocess.CompletedProcess], str]:
    launcher = tmp / "launch.py"
    launcher.write_text(LAUNCHER)
    trace, out = tmp / "trace", tmp / "out"
    trace.mkdir()
    prompt = prompt or _prompt(tmp)
    env = {**os.environ, "DV_TRACE_DIR": str(trace), "OMP_NUM_THREADS": "1"}
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    procs = [subprocess.Popen([torchrun, *args, str(launcher), "run", prompt, "--parallel", "ulysses",
                               "--output-dir", str(out), "--models-dir", models],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for args in node_args]
    done = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done, str(out)


def _assert_parallel_run(done, out, single, trace_dir, tokens: int = TOKENS, experts: int = 1) -> None:
    for run in done:
        assert run.returncode == 0, run.stderr[-3000:]
    diff = (_latent(out) - single).abs().max().item()
    assert diff <= 1e-5, diff
    for rank in (0, 1):
        lines = [line.split() for line in open(os.path.join(trace_dir, f"rank{rank}.txt")).read().splitlines()]
        assert {n for n, _ in lines} == {str(tokens // 2)}, lines  # each rank attended over half of the tokens
        assert len({module for _, module in lines}) == experts  # every denoiser ran split
    files = _files(out)
    kinds = [os.path.splitext(f)[1] for f in files]
    assert kinds.count(".mp4") == 1 and kinds.count(".safetensors") == 1, files  # one writer
    stdout = "".join(run.stdout for run in done)
    assert stdout.count("running node 3 (DVSampler)") == 1  # rank 0 alone reports


def test_two_ranks_under_torchrun_equal_one_process(wan_models, single, tmp_path):
    done, out = _torchrun(tmp_path, wan_models, [["--nproc-per-node", "2", "--master-port", str(_free_port())]])
    _assert_parallel_run(done, out, single, tmp_path / "trace")


def test_wan22_both_experts_split_over_two_ranks(tiny_models_dir, tmp_path):
    """Wan2.2 A14B: each expert is enabled and split in its turn (4 steps cross boundary_ratio: both run);
    32x32, 9 frames: latent 3 x 4 x 4, patches 1x2x2 -> 12 tokens, 6 per rank."""
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan22_a14b", "tiny-wan22_a14b")
    sizes = {"width": 32, "height": 32, "num_frames": 9, "num_inference_steps": 4}
    prompt = _prompt(tmp_path, "tiny-wan22_a14b", "wan22_text_to_video", **sizes)
    alone = tmp_path / "alone"
    plain = subprocess.run([sys.executable, "-m", "diffusers_video.runner", "run", prompt, "--in-process",
                            "--output-dir", str(alone), "--models-dir", tiny_models_dir],
                           capture_output=True, text=True, timeout=600, env={**os.environ, "DV_PROGRESS": "0"})
    assert plain.returncode == 0, plain.stderr[-3000:]
    done, out = _torchrun(tmp_path, tiny_models_dir, [["--nproc-per-node", "2", "--master-port", str(_free_port())]],
                          prompt)
    _assert_parallel_run(done, out, _latent(alone), tmp_path / "trace", tokens=12, experts=2)


def test_two_nodes_meet_at_a_c10d_rendezvous(wan_models, single, tmp_path):
    endpoint = f"127.0.0.1:{_free_port()}"
    nodes = [["--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank), "--rdzv-backend", "c10d",
              "--rdzv-endpoint", endpoint, "--rdzv-id", "dv-test"] for rank in (0, 1)]
    done, out = _torchrun(tmp_path, wan_models, nodes)
    _assert_parallel_run(done, out, single, tmp_path / "trace")


# Refusals, from the configs alone (no weights are read, no group is needed).

def test_a_degree_larger_than_the_ranks(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DVInputError) as info:
        group.join_from_environment("ulysses", 4)
    assert "input 'degree'" in str(info.value) and "at most 2" in str(info.value)
    assert group.current() is None


def test_a_run_not_started_by_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(DVInputError) as info:
        group.join_from_environment("ulysses")
    assert "torchrun --nproc-per-node N" in str(info.value)


def test_ring_without_a_log_sum_exp_kernel_is_refused():
    with pytest.raises(DVInputError) as info:
        context.resolved_mode("ring", 12, 2, "gloo")
    assert "log-sum-exp" in str(info.value) and "ulysses" in str(info.value)
    assert context.resolved_mode("auto", 12, 2, "gloo") == "ulysses"


def test_heads_the_degree_does_not_divide():
    with pytest.raises(DVInputError) as info:
        context.resolved_mode("ulysses", 12, 5, "gloo")
    assert "12 attention heads" in str(info.value) and "[2, 3, 4, 6, 12]" in str(info.value)


def _write_prompt(tmp_path, model: str, width: int = W, height: int = H, frames: int = F) -> dict:
    prompt = json.loads(open(_prompt(tmp_path, model)).read())
    prompt["3"]["inputs"].update(width=width, height=height, num_frames=frames)
    return prompt


def test_a_family_without_a_plan_is_refused_before_loading(tiny_models_dir, tmp_path):
    # tiny-cogvideox is installed by the session fixture; its transformer declares no _cp_plan.
    with pytest.raises(DVInputError) as info:
        precheck.check_prompt(_write_prompt(tmp_path, "tiny-cogvideox"), GLOO2)
    message = str(info.value)
    assert message.startswith("DVSampler (node 3): input 'parallel'") and "CogVideoX" in message
    assert "Valid: a model of Wan" in message  # the families that can


def test_ltx_is_refused_with_the_cause(tiny_models_dir, tmp_path):
    """diffusers declares LTX's plan, but its Ulysses attention fails on LTX's per-head text mask (checked on 2
    gloo ranks: 'size of tensor a (2) must match ... (4)'): refused by name before loading, never a crash."""
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "ltx", "tiny-ltx")
    with pytest.raises(DVInputError) as info:
        precheck.check_prompt(_write_prompt(tmp_path, "tiny-ltx", width=64, height=32), GLOO2)
    message = str(info.value)
    assert message.startswith("DVSampler (node 3): input 'parallel': LTX-Video cannot run split over ranks")
    assert "text attention mask" in message and "LTX-Video" not in message.split("Valid:")[1]


@pytest.mark.parametrize("tiny, family, size", [("ltx2", "LTX-2", (64, 64, 9)), ("helios", "Helios", (32, 32, 33))])
def test_plans_that_fail_here_are_refused_with_the_cause(tiny_models_dir, tmp_path, tiny, family, size):
    """LTX-2 and Helios declare plans, but a split run failed on 2 gloo ranks (LTX-2: the text mask, as
    LTX-Video's; Helios: its plan names the released 40 blocks, its chunks' history tokens did not split):
    refused by name before loading, never a crash; the families that do split are named instead."""
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, tiny, f"tiny-{tiny}")
    with pytest.raises(DVInputError) as info:
        precheck.check_prompt(_write_prompt(tmp_path, f"tiny-{tiny}", *size), GLOO2)
    message = str(info.value)
    assert message.startswith(f"DVSampler (node 3): input 'parallel': {family} cannot run split over ranks"), message
    valid = message.split("Valid:")[1]
    assert family not in valid and "ChronoEdit" in valid and "Wan" in valid, message


def test_chronoedit_splits_over_two_ranks_as_one_process(tiny_models_dir, tmp_path):
    """ChronoEdit's plan (Wan's) splits as Wan's does: its example's latent on 2 torchrun ranks equals one
    process's."""
    from example_runs import tiny_prompt

    prompt, _ = tiny_prompt("chronoedit_image_edit", tiny_models_dir, str(tmp_path / "input"))
    for node_id in [k for k, node in prompt.items() if node["class_type"] in ("DVVideoCombine", "DVVAEDecode")]:
        del prompt[node_id]
    prompt["99"] = {"class_type": "DVSaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "par/latent"}}
    path = tmp_path / "chronoedit.json"
    path.write_text(json.dumps(prompt))
    one = tmp_path / "one"
    done = subprocess.run([sys.executable, "-m", "diffusers_video.runner", "run", str(path), "--in-process",
                           "--output-dir", str(one), "--models-dir", tiny_models_dir, "--input-dir",
                           str(tmp_path / "input")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DV_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    two = tmp_path / "two"
    done = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", str(_free_port()),
                           shutil.which("dv-run", path=os.path.dirname(sys.executable)) or "dv-run", "run", str(path),
                           "--parallel", "ulysses", "--output-dir", str(two), "--models-dir", tiny_models_dir,
                           "--input-dir", str(tmp_path / "input")], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    diff = (_latent(two) - _latent(one)).abs().max().item()
    assert diff <= 1e-5, diff


def test_a_sequence_the_ranks_cannot_share(wan_models, tmp_path):
    three = group.Ranks(0, 3, 0, "gloo", "ulysses", 3)
    with pytest.raises(DVInputError) as info:  # 36 tokens over 3 ranks would do; 2 heads over 3 would not
        precheck.check_prompt(_write_prompt(tmp_path, "tiny-wan"), three)
    assert "input 'parallel'" in str(info.value)
    # 5 frames: latent 2 x 6 x 8 -> 24 tokens, fine for 2 ranks; 48x48x1: 1 x 3 x 3 patches = 9 tokens
    precheck.check_prompt(_write_prompt(tmp_path, "tiny-wan", frames=5), GLOO2)
    with pytest.raises(DVInputError) as info:
        precheck.check_prompt(_write_prompt(tmp_path, "tiny-wan", width=48, height=48, frames=1), GLOO2)
    assert "9 tokens long" in str(info.value) and "divides by 2" in str(info.value)


def test_sequence_length_follows_the_patch_size():
    assert context.sequence_length({"patch_size": [1, 2, 2]}, 3, 6, 8) == 36
    assert context.sequence_length({"patch_size": 1, "patch_size_t": 1}, 3, 6, 8) == 144  # LTX


# Several seeds spread over the ranks (data parallel).

def test_seed_lists_parse_and_refuse_by_name():
    from diffusers_video.parallel import seeds

    assert seeds.parse("5, 7,10-12") == [5, 7, 10, 11, 12]
    for bad, says in (("a", "no seed or range"), ("3-1", "no seed or range"), ("1,1", "repeats"), ("", "at least"),
                      ("-2", "from 0")):
        with pytest.raises(DVInputError) as info:
            seeds.parse(bad)
        assert "input '--seeds'" in str(info.value) and says in str(info.value)
    assert seeds.share([5, 6, 7], group.Ranks(1, 2, 1, "gloo", "seeds", 1)) == [(1, 6)]
    assert seeds.share([5, 6, 7], None) == [(0, 5), (1, 6), (2, 7)]


def _metadata_seed(path: str) -> int:
    from safetensors import safe_open

    with safe_open(path, "pt") as handle:
        return json.loads(handle.metadata()["prompt"])["3"]["inputs"]["seed"]


def test_seeds_over_two_ranks_equal_separate_runs(wan_models, tmp_path):
    """3 seeds on 2 ranks (rank 0: 5 and 7, rank 1: 6): rank 0 writes all three, counters in seed order, each
    file's saved prompt naming its seed; each latent equals a separate plain run with that seed."""
    from safetensors.torch import load_file

    prompt, out = _prompt(tmp_path), tmp_path / "out"
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    done = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", str(_free_port()),
                           shutil.which("dv-run", path=os.path.dirname(sys.executable)), "run", prompt,
                           "--seeds", "5,6,7", "--output-dir", str(out), "--models-dir", wan_models],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    latents = sorted(f for f in os.listdir(out / "par") if f.endswith(".safetensors"))
    assert len(latents) == 3 and len([f for f in _files(out) if f.endswith(".mp4")]) == 3, _files(out)
    assert [_metadata_seed(str(out / "par" / f)) for f in latents] == [5, 6, 7]
    reported = [line.split(":")[0] for line in done.stdout.splitlines() if ": wrote" in line]
    assert list(dict.fromkeys(reported)) == ["seed 5", "seed 6", "seed 7"], done.stdout  # rank 0, in seed order
    for name, seed in zip(latents, (5, 6, 7), strict=True):
        alone = tmp_path / f"alone{seed}"
        plain = subprocess.run([sys.executable, "-m", "diffusers_video.runner", "run", prompt, "--in-process",
                                "--set", f"3.seed={seed}", "--output-dir", str(alone), "--models-dir", wan_models],
                               capture_output=True, text=True, timeout=600, env={**os.environ, "DV_PROGRESS": "0"})
        assert plain.returncode == 0, plain.stderr[-3000:]
        diff = (load_file(str(out / "par" / name))["samples"] - _latent(alone)).abs().max().item()
        assert diff <= 1e-5, (seed, diff)
