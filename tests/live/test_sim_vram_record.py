"""The simulated-VRAM decisions recorded again from the real comfy.model_management of the checkout under test
(COMFYUI_PATH, COMFYUI_PYTHON): they must equal the committed tests/sim_vram/decisions.json, which CI's stand-in
reproduces. A ComfyUI whose memory manager decides otherwise shows up here, scenario by scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live
TESTS = Path(__file__).resolve().parent.parent


def test_the_real_manager_decides_as_recorded(tmp_path):
    comfyui = os.environ.get("COMFYUI_PATH")
    if not comfyui or not os.path.isfile(os.path.join(comfyui, "main.py")):
        pytest.skip("needs COMFYUI_PATH (a ComfyUI checkout)")
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    out = tmp_path / "decisions.json"
    done = subprocess.run([python, str(TESTS / "sim_vram" / "record.py"), str(out)], cwd=comfyui,
                          env={**os.environ, "COMFYUI_PATH": comfyui}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = json.loads(out.read_text())["decisions"]
    committed = json.loads((TESTS / "sim_vram" / "decisions.json").read_text())["decisions"]
    differ = [key for key in committed if fresh.get(key) != committed[key]]
    assert sorted(fresh) == sorted(committed)
    assert not differ, f"{len(differ)} differ, first {differ[0]}: {fresh[differ[0]]} vs {committed[differ[0]]}"
