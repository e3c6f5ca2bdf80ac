"""benchmarks/gpu_check.py cannot rot: its --tiny mode runs the whole check (modules built from configs and
randomised in place, the graph with previews, the plan's prediction, the bare pipeline, the report) on the CPU
for every family, and the report has a row per family whose frames match diffusers'.

On the CPU the peak column is numeric too: the denoiser's weight bytes plus the growth of the resident set
while DVSampler runs (the script's docstring says so; a GPU reports torch.cuda.max_memory_allocated)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def report_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
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
    for row in rows:
        assert row["status"].startswith("ok"), (row["family"], row["status"], text)
        assert row["frames match"] == "yes", (row["family"], row["frames max abs diff"])
        assert float(row[peak]) > 0, (row["family"], row[peak])
        assert float(row["predicted peak MB (plan)"]) >= 0, row
        previews = row["previews per run"]
        if not previews.startswith("none") and "no previews" not in row["status"]:
            assert previews.split()[0] == "2", (row["family"], previews)  # one per step (2 steps)
