"""benchmarks/gpu_check.py cannot rot: its --tiny mode runs the whole check (modules built from configs and
randomised in place, the graph with previews, the plan's prediction, the bare pipeline, the report) on the CPU
for every family, and the report has a row per family whose frames match diffusers'.

On the CPU the peak column is numeric too: the denoiser's weight bytes plus the growth of the resident set
while DVSampler runs (the script's docstring says so; a GPU reports torch.cuda.max_memory_allocated).

Its multi-GPU section (benchmarks/gpu_check_parallel.py) runs with --parallel-ranks on gloo CPU ranks: the
torchrun paths' frames equal one process's, and without the flag on a machine with fewer than 2 GPUs the section
says it was skipped."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def report_rows(text: str, after: str = "") -> tuple[list[str], list[dict[str, str]]]:
    """The first table of the report, or the first after the line `after`."""
    lines = text.splitlines()
    lines = lines[lines.index(after) + 1:] if after else lines
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    lines = [line for line in lines[start:end] if line.startswith("| ")]
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(head, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[1:]]
    return head, rows


def test_tiny_run_reports_every_family_matching_diffusers(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from gpu_check import CASES
    finally:
        sys.path.remove(str(SCRIPT.parent))
    out = tmp_path / "report.md"
    env = {**os.environ, "DV_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--jobs", "2", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    text = out.read_text(encoding="utf-8")
    head, rows = report_rows(text)
    peak = next(name for name in head if name.startswith("measured peak MB"))
    assert "CPU" in peak, peak
    assert sorted(row["family"] for row in rows) == sorted(CASES), text
    assert "## multi-GPU" in text and "multi-GPU: skipped, 0 GPUs" in text, text  # no --parallel-ranks
    for row in rows:
        assert row["status"].startswith("ok"), (row["family"], row["status"], text)
        assert row["frames match"] == "yes", (row["family"], row["frames max abs diff"])
        assert float(row[peak]) > 0, (row["family"], row[peak])
        assert float(row["predicted peak MB (plan)"]) >= 0, row
        previews = row["previews per run"]
        if not previews.startswith("none") and "no previews" not in row["status"]:
            assert previews.split()[0] == "2", (row["family"], previews)  # one per step (2 steps)


def test_two_cpu_ranks_split_one_video_and_spread_seeds_as_one_process_renders(tmp_path):
    """--parallel-ranks 2 on the tiny Wan2.2 A14B (both experts split): torchrun with --parallel ulysses gives one
    process's frames, each rank attending over half of the 36 tokens, and --seeds 11,12 over the two ranks gives
    each seed's separate run. --budget 1 leaves the single-GPU part no time (its row says so), which keeps this
    test to the multi-GPU section."""
    out = tmp_path / "report.md"
    env = {**os.environ, "DV_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--family", "wan", "--release", "Wan2.2-T2V-A14B",
                           "--parallel-ranks", "2", "--budget", "1", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    text = out.read_text(encoding="utf-8")
    assert "2 gloo CPU processes (--parallel-ranks" in text, text
    _, (split,) = report_rows(text, "### One video over 2 ranks (ulysses)")
    assert split["model"] == "tiny-wan22_a14b (as Wan2.2-T2V-A14B)" and split["status"] == "ok", text
    assert float(split["frames max abs diff vs 1 device"]) <= 1e-5 and split["frames match"] == "yes", split
    assert split["tokens per rank (first attention)"] == "18 / 18", split
    assert float(split["DVSampler s, 1 device"]) > 0 and float(split["DVSampler s, 2 ranks"]) > 0, split
    _, (seeds,) = report_rows(text, "### 2 seeds over 2 ranks (--seeds)")
    assert seeds["seeds (rank)"] == "11 (0), 12 (1)" and seeds["seeds equal"] == "yes", seeds
    diffs = dict(part.split(": ") for part in seeds["max abs diff per seed vs its separate run"].split(", "))
    assert sorted(diffs) == ["11", "12"] and all(float(d) <= 1e-5 for d in diffs.values()), diffs
    assert "### In-server DVParallel" in text and "not driven here" in text


@pytest.fixture
def parallel_module():
    sys.path[:0] = [str(SCRIPT.parent), str(REPO / "tests")]
    try:
        import gpu_check_parallel

        yield gpu_check_parallel
    finally:
        del sys.path[:2]


def test_families_that_cannot_be_split_are_listed_with_the_refusal(parallel_module):
    refusal = parallel_module.refusal
    assert refusal("wan", None, "wan", True, 2, "gloo") is None
    ltx = refusal("ltx", None, "ltx", True, 2, "gloo")
    assert "input 'parallel': LTX-Video cannot run split over ranks" in ltx and "text attention mask" in ltx
    assert "has no context-parallel plan" in refusal("cogvideox", None, "cogvideox", True, 2, "gloo")
    assert "2 attention heads" in refusal("wan", None, "wan", True, 3, "gloo")  # the tiny Wan has 2 heads
    section = {"degree": 2, "backend": "gloo", "why": "2 gloo CPU processes", "seconds": 1.0, "entries": [
        {"model": "tiny-ltx", "family": "ltx", "refused": ltx}]}
    text = "\n".join(parallel_module.render(section))
    assert "### Not split (refused before loading)" in text and f"- tiny-ltx: {ltx}" in text


def test_the_section_runs_only_with_two_gpus_or_the_flag(parallel_module):
    def wanted(**args):
        return parallel_module.ranks_wanted(argparse.Namespace(**{"tiny": True, "parallel_ranks": 0, **args}))

    degree, _, why = wanted()
    assert degree == 0 and why.startswith("multi-GPU: skipped, 0 GPUs")
    assert wanted(parallel_ranks=2)[:2] == (2, "gloo")
    assert wanted(parallel_ranks=1)[0] == 0
