"""Record the simulated-VRAM decisions from ComfyUI's real memory manager.

    COMFYUI_PATH=<checkout> <its python> tests/sim_vram/record.py [out.json]

Imports comfy.model_management from the checkout (as a --cpu server would, then switched to a simulated CUDA
device), replaces only the weight moves (weights.py) and the free/total memory queries (the simulated GPU), and
runs every scenario of scenario.py through the pack's host seam. Writes tests/sim_vram/decisions.json by default.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def wire_real_comfy():
    root = os.environ["COMFYUI_PATH"]
    sys.path.insert(0, root)
    sys.argv = [sys.argv[0], "--cpu"]  # importable without a GPU; the state is switched below
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.model_management as mm
    import comfy.model_patcher

    sys.path.insert(0, os.path.dirname(HERE))
    from sim_vram import weights

    mm.cpu_state = mm.CPUState.GPU
    mm.lowvram_available = True
    patcher = comfy.model_patcher.ModelPatcher
    patcher.partially_load, patcher.partially_unload, patcher.detach = (
        weights.partially_load, weights.partially_unload, weights.detach)
    return mm


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "decisions.json")
    mm = wire_real_comfy()
    from diffusers_video import host

    from sim_vram import scenario

    assert host.IN_COMFY and host._mm is mm, "the pack must see the real comfy.model_management"
    decisions = scenario.run_all(mm)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"comfyui": open(os.path.join(os.environ["COMFYUI_PATH"], "comfyui_version.py")).read().split('"')[1],
                   "decisions": decisions}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(decisions)} scenarios -> {out}")


if __name__ == "__main__":
    main()
