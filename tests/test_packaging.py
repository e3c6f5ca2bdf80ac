"""The pack's contract with ComfyUI and its installers: registration, names, tooltips, dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tomllib
from diffusers_video import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE_TYPES = {"IMAGE", "LATENT", "STRING", "INT", "FLOAT", "BOOLEAN", "AUDIO", "MASK", "VIDEO"}


def _pyproject() -> dict:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_requirements_txt_mirrors_pyproject():
    declared = _pyproject()["project"]["dependencies"]
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as f:
        listed = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert listed == declared


def test_every_subpackage_is_packaged():
    """A wheel holds only the packages pyproject lists: a new folder left out imports here (the editable
    install maps the folder) and fails for every user who pip-installs the pack."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {"diffusers_video"} | {
        "diffusers_video." + name for name in os.listdir(REPO)
        if os.path.isfile(os.path.join(REPO, name, "__init__.py")) and name != "tests"}
    assert found == listed


def test_registry_metadata():
    project = _pyproject()
    assert "comfyui" not in project["project"]["name"].lower()
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert comfy["requires-comfyui"].startswith(">=")
    # The icon is served from the repository: the file it names must be in it, within the registry's limits.
    prefix = "https://raw.githubusercontent.com/diffusers-video/ComfyUI-DiffusersVideo/main/"
    assert comfy["Icon"].startswith(prefix)
    from PIL import Image

    with Image.open(os.path.join(REPO, comfy["Icon"][len(prefix):])) as icon:
        assert icon.format == "PNG" and icon.width <= 800 and icon.height <= 400
    assert set(project["project"]["urls"]) >= {"Repository", "Documentation", "Issues"}
    with open(os.path.join(REPO, "CHANGELOG.md"), encoding="utf-8") as f:
        assert f"## {project['project']['version']}" in f.read()


@pytest.mark.parametrize("node_id", sorted(NODE_CLASS_MAPPINGS))
def test_node_contract(node_id):
    cls = NODE_CLASS_MAPPINGS[node_id]
    assert node_id.startswith("DV")
    assert NODE_DISPLAY_NAME_MAPPINGS[node_id].startswith("DV ")
    assert cls.CATEGORY.startswith("DiffusersVideo/")
    assert cls.DESCRIPTION.strip()
    assert callable(getattr(cls, cls.FUNCTION))
    inputs = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, spec in inputs.get(section, {}).items():
            assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
            kind = spec[0]
            assert not isinstance(kind, tuple), f"{node_id}.{name}: combo choices must be a list for ComfyUI"
            if isinstance(kind, str) and kind not in CORE_TYPES:
                assert kind.startswith("DV_"), f"{node_id}.{name}: custom type {kind} lacks the DV_ prefix"
    assert len(getattr(cls, "OUTPUT_TOOLTIPS", ())) == len(cls.RETURN_TYPES)
    for rtype in cls.RETURN_TYPES:
        assert rtype in CORE_TYPES or rtype.startswith("DV_"), f"{node_id} returns {rtype}"


def test_planned_nodes_present():
    for node_id in ("DVPipelineLoader", "DVModelLoader", "DVVAELoader", "DVTextEncoderLoader", "DVScheduler",
                    "DVTextEncode", "DVSampler", "DVVAEDecode", "DVVideoCombine"):
        assert node_id in NODE_CLASS_MAPPINGS


def test_import_by_path_is_cheap():
    """ComfyUI imports the folder by path under any name; that must not pull in diffusers or transformers."""
    code = (
        "import sys, time, json; sys.path.insert(0, sys.argv[1]); from pack_import import import_pack_by_path;"
        "t = time.perf_counter(); m = import_pack_by_path(); dt = time.perf_counter() - t;"
        "print(json.dumps({'nodes': len(m.NODE_CLASS_MAPPINGS), 'seconds': dt,"
        " 'heavy': [k for k in ('diffusers', 'transformers', 'torch', 'av') if k in sys.modules]}))"
    )
    out = subprocess.run([sys.executable, "-c", code, os.path.join(REPO, "tests")], capture_output=True, text=True,
                         check=True, cwd="/")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["nodes"] == len(NODE_CLASS_MAPPINGS)
    assert result["heavy"] == []


def test_shipped_nodes_keep_their_inputs():
    """Saved workflows keep loading: a shipped node never gains a required input (new ones arrive optional) nor
    loses one. tests/node_contract.json holds each node's required inputs as shipped; a new node adds its own
    entry (the file lists every node, so the test notices a node that has none)."""
    with open(os.path.join(REPO, "tests", "node_contract.json"), encoding="utf-8") as f:
        shipped = json.load(f)
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        assert node_id in shipped, f"{node_id} is new: add its required inputs to tests/node_contract.json"
        inputs = cls.INPUT_TYPES()
        required, optional = set(inputs.get("required", {})), set(inputs.get("optional", {}))
        before = set(shipped[node_id])
        assert required <= before, f"{node_id} gained required inputs {sorted(required - before)}"
        assert before <= required | optional, f"{node_id} lost inputs {sorted(before - required - optional)}"
