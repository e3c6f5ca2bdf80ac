"""The bad-input catalogue (issue 12) in a real ComfyUI server: a fair share of tests/test_bad_input_catalogue.py's
rows, the same prompts, each POSTed to /prompt with the class of answer it must get there:

- Invalid(node, input): ComfyUI's own validation refuses the prompt (HTTP 400) with node_errors naming that node
  and that input;
- DV(node, class, input): the prompt is queued and fails in that node with an execution_error in /history whose
  message is the pack's DVInputError text: it names the node class and that input and says what is "Valid:";
- OK(): the prompt completes and its output file is in the output (or, previews, the temp) folder.

After every row no file may have appeared or changed outside the server's output and temp folders, in any folder
the server was given (models, input, user, the system temp folder it was started with) or in the tiny models the
models folder links to, and no half-written file anywhere.

The server is one of this module's own (not the session's shared one): it is started on the bad-input sandbox of
tests/bad_input_support.py (its models, broken copies, input clips and 'outside' folder), with a models config that
also names the checkpoints folder, and with a one-file custom node "Reroute" whose any-type sockets ("*" that
matches every type, as the reroute and switch nodes of popular packs declare them) carry a wrong object into a
node the way the catalogue's Reroute does in-process.

Where a real ComfyUI answers a row differently from the in-process executor, by design, the expected answer here
follows the host (see `live_answer`):
- a number outside the widget's declared min/max is refused by ComfyUI's validation before the node runs, so a
  row the pack answers with a DV error is answered Invalid on the same node and input (NaN compares false and
  passes, and still reaches the pack);
- a few rows documented in LIVE_DIFFERENCES.

DV_LIVE_BAD_INPUTS=all runs every row of the catalogue instead of the share.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from bad_input_support import ANSI, declared_inputs, sandbox
from test_bad_input_catalogue import DV, NODES, OK, ROWS, Invalid

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
ROW_TIMEOUT = 180

# The share run by default: every answer class and every node class the catalogue covers (checked below), the
# families' valid prompts, and rows from each section of the catalogue.
SHARE = {
    # the valid prompts
    "cog-t2v-ok", "cog-i2v-ok", "cog-v2v-ok", "svd-ok", "animatediff-ok", "controlnet-cross-frame-ok", "wan-ok",
    "save-latent-ok", "load-video-ok", "t2v-zero-ok", "scheduler-ok", "lora-ok", "model-loader-ok",
    "text-encode-control-characters-ok", "step-cache-ok", "image-input-options-ok", "combine-preview-only-ok",
    "load-video-path-inside-input-ok",
    # ComfyUI's validation
    "pipeline-model-not-listed", "pipeline-model-leaves-folder", "pipeline-dtype-unknown", "pipeline-weights-unknown",
    "model-loader-model-2-unknown", "vae-loader-not-listed", "text-encoder-loader-not-listed",
    "motion-adapter-not-listed", "checkpoint-not-listed", "controlnet-not-listed", "lora-not-listed",
    "scheduler-unknown", "decode-tiling-unknown", "combine-format-unknown", "image-options-resize-unknown",
    "compile-backend-unknown", "attention-backend-unknown", "offload-mode-unknown", "step-cache-unknown",
    "load-latent-not-listed", "vae-wired-into-model-socket", "image-wired-into-conditioning",
    "link-to-missing-node", "sampler-width-missing", "unknown-node-type",
    # the nodes of the families and features landed in the third session of 2026-12-02
    "animatediff-strength-without-video", "chronoedit-reasoning-steps-negative", "cosmos-options-on-cog",
    "easyanimate-options-noise-aug-nan", "ltx-keyframe-past-the-last-frame", "ltx-upsample-with-another-familys-vae",
    "parallel-on-cog", "skyreels-v2-options-on-cog",
    # LTX-2 (sound): its options on another family, sound asked of a video-only model
    "ltx2-options-on-cog", "audio-decode-of-cog",
    # wrong objects through a reroute
    "reroute-vae-into-sampler-model", "reroute-vae-into-motion-adapter", "reroute-model-into-decode-vae",
    "reroute-latent-into-combine-images", "reroute-image-into-save-latent", "reroute-model-into-apply-controlnet",
    "reroute-vae-into-lora-model", "reroute-vae-into-offload", "reroute-vae-into-compile",
    "reroute-vae-into-scheduler-base", "reroute-vae-into-options-chain",
    # NaN and infinity
    "sampler-guidance-nan", "sampler-guidance-nan-string", "sampler-guidance-inf", "combine-fps-nan",
    "cog-options-strength-nan", "lora-strength-nan", "step-cache-threshold-nan", "svd-options-noise-aug-nan",
    "wan-options-guidance-2-nan", "t2v-zero-motion-nan", "pix2pix-image-guidance-inf",
    "apply-controlnet-strength-nan",
    # negative and huge numbers
    "sampler-steps-zero", "sampler-seed-over-64-bits", "combine-crf-out-of-range", "load-video-every-nth-zero",
    "load-video-skip-everything", "offload-stream-without-cuda",
    # sizes, frame counts, options and wires
    "cog-width-not-multiple-of-16", "cog-frames-not-4k-plus-1", "svd-one-frame", "animatediff-width-36",
    "controlnet-frames-differ", "cog-v2v-more-frames-than-video", "cog-i2v-without-image", "svd-options-on-cog",
    "ltx-options-on-cog", "hunyuan-options-on-cog", "i2vgenxl-options-on-cog", "t2v-zero-t0-after-t1",
    "step-cache-window-reversed", "step-cache-magcache-garbage-ratios", "cross-frame-attention-on-cog",
    "attention-backend-on-cog", "model-loader-boundary-ratio-one-expert", "text-encode-too-long-without-truncation",
    "combine-video-and-images", "combine-without-frames", "download-off", "download-repo-id-escapes",
    "scheduler-flow-shift-on-ddim", "scheduler-flow-matching-on-cog", "cog-strength-without-video",
    # output names
    "combine-prefix-newline", "combine-prefix-nul", "combine-prefix-parent-folder", "combine-prefix-absolute",
    "combine-prefix-bidi-override", "save-latent-prefix-nul", "save-latent-prefix-parent-folder",
    # DVLoadVideo's path
    "load-video-path-system-file", "load-video-path-relative-escape", "load-video-path-home",
    "load-video-path-not-a-video", "load-video-path-damaged", "load-video-path-nul",
    # broken models
    "broken-truncated-safetensors", "broken-model-index-json", "broken-vae-config-json", "broken-pickle-weights",
    "broken-model-loader-truncated", "broken-vae-loader-config", "broken-text-encoder-loader",
    "broken-motion-adapter", "broken-controlnet-config", "broken-checkpoint-truncated", "broken-lora-file",
    "broken-checkpoint-config-folder", "pipeline-nf4-without-cuda",
}

# Rows a real ComfyUI answers differently from the in-process executor, by ComfyUI's design: row id -> (the
# answer here, why).
LIVE_DIFFERENCES: dict[str, tuple[Any, str]] = {
    "load-latent-not-listed": (
        DV("ll", "DVLoadLatent", "latent"),
        "DVLoadLatent.VALIDATE_INPUTS names 'latent', so ComfyUI skips its value-in-list check and the node itself "
        "refuses the file when it runs"),
    "link-to-missing-node": (
        Invalid("c4"),
        "ComfyUI's validation fails with a KeyError on the missing node; it reports it against the node holding the "
        "link, with the input name of the node downstream of it ('images')"),
    "link-to-missing-output": (
        Invalid("c3"),
        "ComfyUI's validation fails with an IndexError on the missing output; it reports it against the node holding "
        "the link, with the input name of the node downstream of it ('samples')"),
}

ROW_IDS = [param.id for param in ROWS]
SELECTED = [param for param in ROWS if os.environ.get("DV_LIVE_BAD_INPUTS") == "all" or param.id in SHARE]


# ------------------------------------------------------------------------------------------- the server


REROUTE_SOURCE = '''
"""Reroute for the bad-input live tests: any type in, the same object out. Its sockets are "*" as an any-type
string whose != is always False, as the reroute and switch nodes of popular packs declare them, so ComfyUI's link
type check lets every link through (a plain "*" string would not pass it)."""


class AnyType(str):
    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


class Reroute:
    CATEGORY = "testing"
    RETURN_TYPES = (ANY,)
    FUNCTION = "route"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANY, {})}}

    def route(self, value):
        return (value,)


NODE_CLASS_MAPPINGS = {"Reroute": Reroute}
'''


def _live_conftest():
    """tests/live/conftest.py as a module (for LiveComfy, the HTTP calls the live tests make)."""
    spec = importlib.util.spec_from_file_location("_dv_live_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Server:
    comfy: Any  # conftest.LiveComfy
    box: Any  # bad_input_support.Sandbox
    temp: str  # ComfyUI's temp folder
    linked: list[str]  # the real folders the models folder links to (the tiny models)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        found = self.box.snapshot()
        for folder in self.linked:
            for root, _dirs, files in os.walk(folder):
                for name in files:
                    path = os.path.join(root, name)
                    stat = os.lstat(path)
                    found[path] = (stat.st_size, stat.st_mtime_ns)
        return found

    def strays(self, before: dict, after: dict) -> list[str]:
        allowed = (self.box.output + os.sep, self.temp + os.sep)
        return sorted(path for path, stat in after.items()
                      if before.get(path) != stat and not path.startswith(allowed))

    def outputs(self, before: dict, after: dict) -> list[str]:
        return sorted(p for p in set(after) - set(before) if p.startswith(self.box.output + os.sep))


def _write_models_config(path: Path, models: str, custom_nodes: Path) -> None:
    folders = ("diffusers", "checkpoints", "animatediff_models", "controlnet", "loras")
    path.write_text("diffusers_video_bad_inputs:\n" f"  base_path: {json.dumps(models)}\n"
                    + "".join(f"  {name}: {name}/\n" for name in folders)
                    + f"  custom_nodes: {json.dumps(str(custom_nodes))}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    comfyui = os.environ.get("COMFYUI_PATH")
    if not comfyui:
        pytest.skip("live-host tests need COMFYUI_PATH (a ComfyUI checkout)")
    if not os.path.isfile(os.path.join(comfyui, "main.py")):
        pytest.skip(f"COMFYUI_PATH={comfyui} is not a ComfyUI checkout (no main.py)")
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    if not os.path.isfile(python):
        pytest.skip(f"COMFYUI_PYTHON={python} does not exist")
    from diffusers_video.runner import comfy_client

    live = _live_conftest()
    # The sandbox's environment (TMPDIR, HF_HOME and HF_HUB_OFFLINE inside it, downloads off) is the server's.
    with sandbox(tmp_path_factory) as box, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONUNBUFFERED", "1")
        base = tmp_path_factory.mktemp("comfy_bad_inputs")
        custom_nodes = base / "custom_nodes"
        custom_nodes.mkdir()
        (custom_nodes / live.PACK_FOLDER).symlink_to(REPO, target_is_directory=True)
        (custom_nodes / "dv_live_reroute.py").write_text(REROUTE_SOURCE, encoding="utf-8")
        temp, user = os.path.join(box.root, "comfy_temp"), os.path.join(box.root, "user")
        os.makedirs(temp, exist_ok=True)
        os.makedirs(user, exist_ok=True)
        config = base / "extra_model_paths.yaml"
        _write_models_config(config, box.models, custom_nodes)
        log_path = base / "comfyui.log"
        args = ["--extra-model-paths-config", str(config), "--output-directory", box.output,
                "--input-directory", box.input, "--temp-directory", temp, "--user-directory", user]

        def launch():
            try:
                return comfy_client.start_server(comfyui, extra_args=args, python=python, log_path=str(log_path),
                                                 timeout=live.START_TIMEOUT)
            except comfy_client.ComfyError as error:
                pytest.fail(f"ComfyUI did not start: {error}")

        process, url = launch()
        comfy = live.LiveComfy(url, base, log_path, log_path.read_text(errors="replace"), process, launch)
        served_temp = os.path.join(temp, "temp")  # ComfyUI's temp folder is a "temp" inside --temp-directory
        linked = sorted({os.path.realpath(os.path.join(folder, name))
                         for folder, dirs, _files in os.walk(box.models)
                         for name in dirs if os.path.islink(os.path.join(folder, name))})
        try:
            yield Server(comfy, box, served_temp, linked)
        finally:
            comfy_client.stop_server(comfy.process)


# ------------------------------------------------------------------------------------------- answers


def _validated_inputs(cls: type) -> set[str]:
    function = getattr(cls, "VALIDATE_INPUTS", None)
    return set(inspect.getfullargspec(function).args) if function else set()


def host_refusal(prompt: dict) -> tuple[str, str] | None:
    """The (node, input) whose literal number ComfyUI's validation refuses as outside its widget's min/max (as
    execution.validate_inputs does: converted to the widget's type, compared, unless VALIDATE_INPUTS takes it)."""
    for node_id, spec in prompt.items():
        cls = NODES.get(spec["class_type"])
        if cls is None:
            continue
        kinds = cls.INPUT_TYPES()
        declared = {**kinds.get("required", {}), **kinds.get("optional", {})}
        for name, value in spec["inputs"].items():
            if name not in declared or isinstance(value, list) or name in _validated_inputs(cls):
                continue
            kind, options = declared[name][0], (declared[name][1] if len(declared[name]) > 1 else {})
            if kind not in ("INT", "FLOAT"):
                continue
            try:
                number = int(value) if kind == "INT" else float(value)
            except (TypeError, ValueError):
                return node_id, name  # ComfyUI's "Failed to convert an input value"
            if ("min" in options and number < options["min"]) or ("max" in options and number > options["max"]):
                return node_id, name
    return None


def live_answer(row_id: str, prompt: dict, answer: Any) -> Any:
    if row_id in LIVE_DIFFERENCES:
        return LIVE_DIFFERENCES[row_id][0]
    refused = host_refusal(prompt)
    if refused and isinstance(answer, DV):
        wanted = {answer.input} if isinstance(answer.input, str) else set(answer.input)
        assert refused[0] == answer.node and refused[1] in wanted, (
            f"ComfyUI refuses {refused} before the pack can answer {answer}")
        return Invalid(*refused)
    assert refused is None or isinstance(answer, Invalid), f"ComfyUI refuses {refused}; the row expects {answer}"
    return answer


def check_dv_message(text: str, class_type: str, input_name: str | set[str], contains: str | None = None,
                     echoed: tuple = ()) -> None:
    """check_dv_error of bad_input_support on the message text ComfyUI reports: names this node and this
    (declared) input, has a non-empty 'Valid:' text and no terminal colour codes of its own."""
    wanted = {input_name} if isinstance(input_name, str) else input_name
    found = re.match(rf"{re.escape(class_type)}: input '([^']+)'", text)
    assert found, f"does not start with '{class_type}: input ...': {text!r}"
    assert found[1] in wanted, f"names input {found[1]!r}, expected {sorted(wanted)}: {text}"
    assert found[1] in declared_inputs(NODES[class_type]), found[1]
    assert "Valid: " in text and text.split("Valid: ", 1)[1].strip(), f"no 'Valid:' text: {text}"
    own = text
    for value in sorted((v for v in echoed if isinstance(v, str) and v), key=len, reverse=True):
        own = own.replace(value, "")
    assert not ANSI.search(own), f"terminal colour codes in the message: {text!r}"
    if contains:
        assert re.search(contains, text, re.I | re.S), f"{contains!r} not in: {text}"


# ------------------------------------------------------------------------------------------- tests


def test_share_covers_every_node_and_answer():
    """The share is a fair one: at least 60 rows, every answer class, every node class the catalogue uses."""
    assert set(SHARE) <= set(ROW_IDS), sorted(set(SHARE) - set(ROW_IDS))
    assert set(LIVE_DIFFERENCES) <= set(ROW_IDS), sorted(set(LIVE_DIFFERENCES) - set(ROW_IDS))
    share = [param for param in ROWS if param.id in SHARE]
    assert len(share) >= 60
    used = {spec["class_type"] for param in share for spec in param.values[0]().values()}
    catalogue = {spec["class_type"] for param in ROWS for spec in param.values[0]().values()}
    assert catalogue - used == set()
    answers = {type(live_answer(param.id, param.values[0](), param.values[1])) for param in share}
    assert answers == {Invalid, DV, OK}
    refused = [p.id for p in share if isinstance(p.values[1], DV) and host_refusal(p.values[0]())]
    assert refused and len(refused) < len(share) // 4, refused


@pytest.mark.parametrize("make_prompt,answer", SELECTED)
def test_bad_input_live(make_prompt, answer, server, request):
    row_id = request.node.callspec.id
    comfy = server.comfy
    prompt = make_prompt()
    expected = live_answer(row_id, prompt, answer)
    before = server.snapshot()
    status, reply = comfy.queue(prompt, {"catalogue": True})  # the workflow in extra_pnginfo, as the frontend
    entry = comfy.finished(reply["prompt_id"], ROW_TIMEOUT) if status == 200 and reply.get("prompt_id") else None
    after = server.snapshot()
    assert server.strays(before, after) == [], "files written outside the output and temp folders"
    assert server.box.partials(before, after) == [], "half-written files left behind"

    if isinstance(expected, Invalid):
        assert status == 400, f"expected ComfyUI's validation error, got HTTP {status}: {reply}; " + (
            json.dumps(entry["status"])[:2000] if entry else "")
        node_errors = reply.get("node_errors") or {}
        if expected.node in node_errors:
            errors = node_errors[expected.node]["errors"]
            assert node_errors[expected.node]["class_type"] == prompt[expected.node]["class_type"]
            if expected.input:
                assert any(e.get("extra_info", {}).get("input_name") == expected.input for e in errors), errors
                assert any(expected.input in e.get("details", "") for e in errors), errors
        else:  # an unknown node type: refused before any node is validated, named in the error's details
            error = reply.get("error") or {}
            assert expected.input is None and (
                f"#{expected.node}'" in error.get("details", "")
                or error.get("extra_info", {}).get("node_id") == expected.node), reply
    elif isinstance(expected, DV):
        assert status == 200 and reply.get("node_errors") == {}, f"expected a DV error, ComfyUI refused: {reply}"
        assert entry["status"]["status_str"] == "error", f"expected {expected.class_type}'s DV error, it completed"
        errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
        assert len(errors) == 1, entry["status"]
        error = errors[0]
        assert (error["node_id"], error["node_type"]) == (expected.node, expected.class_type), error
        assert error["exception_type"].endswith("DVInputError"), (error["exception_type"],
                                                                 error["exception_message"])
        wanted = expected.input if isinstance(expected.input, str) else set(expected.input)
        given = tuple(v for spec in prompt.values() for v in spec["inputs"].values() if isinstance(v, str))
        check_dv_message(error["exception_message"].rstrip("\n"), expected.class_type, wanted, expected.contains,
                         given)
        if expected.class_type in ("DVVideoCombine", "DVSaveLatent"):
            others = tuple(spec["inputs"]["filename_prefix"] for node, spec in prompt.items()
                           if node != expected.node and isinstance(spec["inputs"].get("filename_prefix"), str))
            written = [path for path in server.outputs(before, after)
                       if not os.path.relpath(path, server.box.output).startswith(others)]
            assert written == [], "an output file was written before the error"
    else:
        assert status == 200 and reply.get("node_errors") == {}, f"expected a correct output, ComfyUI refused: {reply}"
        assert entry["status"]["status_str"] == "success" and entry["status"].get("completed"), (
            json.dumps(entry["status"])[:3000])
        if expected.check:
            where = types.SimpleNamespace(output=server.box.output, comfy_temp=lambda: server.temp)
            expected.check(types.SimpleNamespace(outputs=entry["outputs"]), where)

