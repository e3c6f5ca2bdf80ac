"""`dv-run`: run ComfyUI workflows without the editor.

    dv-run run WORKFLOW.json [--set NODE.INPUT=VALUE ...] [--server URL | --comfyui PATH | --in-process]
    dv-run demo [--output-dir DIR] [--steps N]

A workflow is an API-format prompt ("Export (API)" in ComfyUI) or a UI-format workflow file, which is
converted the way the editor's Queue button does. With --server the prompt goes to a running ComfyUI;
with --comfyui (or COMFYUI_PATH) a ComfyUI is started from that checkout for the run; otherwise it runs
in-process with this pack's nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import DVInputError


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_overrides(prompt: dict[str, Any], assignments: list[str]) -> None:
    for assignment in assignments:
        target, sep, value = assignment.partition("=")
        node_id, dot, input_name = target.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set {assignment!r}: expected NODE.INPUT=VALUE, e.g. 3.seed=7")
        if node_id not in prompt:
            raise SystemExit(f"--set {assignment!r}: no node {node_id}; nodes: {', '.join(prompt)}")
        if input_name not in prompt[node_id]["inputs"]:
            raise SystemExit(f"--set {assignment!r}: node {node_id} ({prompt[node_id]['class_type']}) has no input "
                             f"'{input_name}'; inputs: {', '.join(prompt[node_id]['inputs'])}")
        prompt[node_id]["inputs"][input_name] = _parse_value(value)


def load_workflow(path: str, node_classes: dict[str, type]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(API prompt, UI workflow or None) from either kind of file."""
    from .workflow_format import ui_to_api

    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        return ui_to_api(data, node_classes), data
    return data, None


def run_workflow(args: argparse.Namespace) -> int:
    from .. import NODE_CLASS_MAPPINGS as PACK_NODES
    from .core_nodes import CORE_NODES

    NODE_CLASS_MAPPINGS = {**CORE_NODES, **PACK_NODES}

    prompt, workflow = load_workflow(args.workflow, NODE_CLASS_MAPPINGS)
    if args.extra_pnginfo:
        with open(args.extra_pnginfo, encoding="utf-8") as f:
            workflow = json.load(f)
    apply_overrides(prompt, args.set or [])
    output_dir = os.path.abspath(args.output_dir)
    parallel = getattr(args, "parallel", None)
    several = getattr(args, "seeds", None)
    if (parallel or several) and (args.server or args.comfyui):
        flag = "--parallel" if parallel else "--seeds"
        raise DVInputError(flag, "parallel and several-seed runs execute the graph in this process (or in the "
                           "processes torchrun starts).", f"{flag} without --server/--comfyui.")
    in_process = args.in_process or bool(parallel or several)
    comfyui = args.comfyui or (None if in_process or args.server else os.environ.get("COMFYUI_PATH"))
    if args.server or comfyui:
        return _run_on_server(args, prompt, workflow, output_dir, comfyui)
    os.environ["DV_OUTPUT_DIR"] = output_dir
    if args.input_dir:
        os.environ["DV_INPUT_DIR"] = os.path.abspath(args.input_dir)
    if args.models_dir:
        os.environ["DV_MODELS_DIR"] = os.path.abspath(args.models_dir)
    from ..parallel import group
    from .executor import Executor

    if getattr(args, "seeds", None):
        return _run_seeds(args, prompt, workflow, output_dir, NODE_CLASS_MAPPINGS)
    if parallel:
        from ..parallel import precheck

        ranks = group.join_from_environment(parallel, args.degree)
        precheck.check_prompt(prompt, ranks)  # before any weight loads
        if ranks.rank != 0:
            os.environ["DV_PROGRESS"] = "0"  # one progress bar per run, rank 0's
    writer = group.is_output_rank()
    try:
        result = Executor(NODE_CLASS_MAPPINGS).run(
            prompt, {"workflow": workflow} if workflow else None, write_outputs=writer,
            on_node=(lambda node_id, class_type: print(f"running node {node_id} ({class_type})", flush=True))
            if writer else None)
    finally:
        if parallel:
            group.leave()
    for ui in result.outputs.values():
        for item in ui.get("images", []):
            print("wrote", os.path.join(output_dir, item.get("subfolder", ""), item["filename"]))
    return 0


def _run_seeds(args, prompt: dict[str, Any], workflow: dict[str, Any] | None, output_dir: str,
               node_classes: dict[str, type]) -> int:
    """--seeds: the workflow once per seed; under torchrun the seeds are spread over the ranks (each rank holds
    the whole model) and rank 0 writes every file, in seed order, each with its own seed in its metadata."""
    from ..parallel import group, seeds
    from .executor import Executor

    order = seeds.parse(args.seeds)
    if args.parallel:
        raise DVInputError("--seeds", "one video split over the ranks (--parallel) and several videos spread over "
                           "them (--seeds) in one run.", "either --parallel or --seeds.")
    ranks = group.join_from_environment("seeds") if "RANK" in os.environ else None
    if ranks is not None and ranks.rank != 0:
        os.environ["DV_PROGRESS"] = "0"
    executor = Executor(node_classes)
    extra = {"workflow": workflow} if workflow else None
    mine = []
    try:
        for position, seed in seeds.share(order, ranks):
            seeded = seeds.with_seed(prompt, seed)
            captured: dict[str, dict[str, Any]] = {}
            executor.run(seeded, extra, write_outputs=False, captured=captured)
            mine.append((position, seed, seeded, captured))
        everything = seeds.gather(mine, ranks)
    finally:
        if ranks is not None:
            group.leave()
    if everything is None:
        return 0
    for _, seed, seeded, captured in sorted(everything, key=lambda item: item[0]):
        result = executor.run_outputs(seeded, captured)
        for ui in result.outputs.values():
            for item in ui.get("images", []):
                print(f"seed {seed}: wrote", os.path.join(output_dir, item.get("subfolder", ""), item["filename"]))
    return 0


def _run_on_server(args, prompt, workflow, output_dir: str, comfyui: str | None) -> int:
    import shutil
    import tempfile

    from . import comfy_client as client

    process = None
    base_url = args.server
    scratch = tempfile.mkdtemp(prefix="dv-run-")
    try:
        if not base_url:
            extra = ["--output-directory", output_dir]
            yaml_path = _extra_paths_for_server(comfyui, args.models_dir, scratch)
            if yaml_path:
                extra += ["--extra-model-paths-config", yaml_path]
            print(f"starting ComfyUI from {comfyui} ...", flush=True)
            process, base_url = client.start_server(comfyui, extra_args=extra, python=os.environ.get("COMFYUI_PYTHON"))
        prompt_id = client.post_prompt(base_url, prompt, workflow)
        print(f"queued {prompt_id} on {base_url}", flush=True)
        entry = client.wait(base_url, prompt_id)
        for ui in entry.get("outputs", {}).values():
            for item in ui.get("images", []):
                if args.server:
                    print("wrote", client.download(base_url, item, output_dir))
                else:
                    print("wrote", os.path.join(output_dir, item.get("subfolder", ""), item["filename"]))
        return 0
    finally:
        if process is not None:
            client.stop_server(process)
        shutil.rmtree(scratch, ignore_errors=True)


def _extra_paths_for_server(comfyui: str, models_dir: str | None, scratch: str) -> str | None:
    """An extra_model_paths.yaml (in the scratch folder) for a server started here: the models folder if
    given, and this pack as a custom node when the checkout does not have it yet, so `--comfyui` works
    before the pack is installed there."""
    pack = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    custom_nodes = os.path.join(comfyui, "custom_nodes")
    entries = os.listdir(custom_nodes) if os.path.isdir(custom_nodes) else []
    installed = any(os.path.realpath(os.path.join(custom_nodes, entry)) == pack for entry in entries)
    lines = []
    if models_dir:
        lines += [f"  base_path: {os.path.abspath(models_dir)}", "  diffusers: diffusers/"]
    if not installed:
        os.symlink(pack, os.path.join(scratch, "ComfyUI-DiffusersVideo"))
        lines.append(f"  custom_nodes: {scratch}")
    if not lines:
        return None
    yaml_path = os.path.join(scratch, "extra_model_paths.yaml")
    with open(yaml_path, "w", encoding="utf-8") as f:
        f.write("dv_run:\n" + "\n".join(lines) + "\n")
    return yaml_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dv-run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a workflow file")
    run.add_argument("workflow")
    run.add_argument("--set", action="append", metavar="NODE.INPUT=VALUE", help="override an input (JSON value)")
    run.add_argument("--output-dir", default="output")
    run.add_argument("--models-dir", help="models folder in ComfyUI's layout (default: DV_MODELS_DIR or ./models)")
    run.add_argument("--input-dir", help="where LoadImage finds its files (in-process runs; default ./input)")
    run.add_argument("--extra-pnginfo", metavar="UI_WORKFLOW.json", help="UI workflow to embed in the outputs")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="URL", help="a running ComfyUI, e.g. http://127.0.0.1:8188")
    where.add_argument("--comfyui", metavar="PATH", help="start ComfyUI from this checkout for the run")
    where.add_argument("--in-process", action="store_true", help="run here even when COMFYUI_PATH is set")
    run.add_argument("--parallel", choices=["ulysses", "ring", "auto"],
                     help="spread each video's denoising over the processes torchrun started (context "
                     "parallelism; rank 0 writes the outputs): torchrun --nproc-per-node N $(which dv-run) run ...")
    run.add_argument("--seeds", metavar="LIST",
                     help="render the workflow once per seed (e.g. 1,2,3 or 10-17); under torchrun the seeds are "
                     "spread over the ranks and rank 0 writes one file per seed")
    run.add_argument("--degree", type=int, default=0,
                     help="ranks one video is spread over (default: all that torchrun started)")
    demo = commands.add_parser("demo", help="render the example workflow with a tiny model built on the spot")
    demo.add_argument("--output-dir", default="output")
    demo.add_argument("--steps", type=int, default=4, help="denoising steps (the example has 50)")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(args)
        return run_workflow(args)
    except Exception as error:  # a workflow error is a message for the user, not a traceback
        if args.verbose:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
