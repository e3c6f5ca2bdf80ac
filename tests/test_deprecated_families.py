"""The seed families diffusers moved to pipelines/deprecated (I2VGen-XL, ModelScope, Text2Video-Zero): imported
from where they live, and a diffusers without one fails that family alone, by name, with the last release."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from diffusers_video.families.deprecated import LAST_KNOWN_RELEASE, MOVED, moved_class

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("name", sorted(MOVED))
def test_each_class_comes_from_the_deprecated_module(name):
    cls = moved_class(name, "Some family")
    assert cls.__module__ == MOVED[name] and ".deprecated." in cls.__module__


# The child hides one deprecated module (as a diffusers release without it would), imports the pack the way
# ComfyUI does, and runs a tiny ModelScope and a tiny I2VGen-XL graph: the first must render, the second must
# fail at its first node that needs the pipeline (DVTextEncode: I2VGen-XL encodes prompts through it), naming
# the family, the class and the release; the loader itself still loads the weights (models are not moved).
CHILD = textwrap.dedent("""
    import importlib.abc, json, sys

    HIDDEN = "diffusers.pipelines.deprecated.i2vgen_xl"

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == HIDDEN or name.startswith(HIDDEN + "."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Hide())
    sys.path.insert(0, sys.argv[1])
    from pack_import import import_pack_by_path

    pack = import_pack_by_path()
    import torch
    from diffusers_video.errors import DVInputError
    from diffusers_video.nodes.loaders import DVPipelineLoader
    from diffusers_video.nodes.sampling import DVSampler, DVTextEncode

    result = {"nodes": sorted(pack.NODE_CLASS_MAPPINGS)}
    with torch.inference_mode():
        model, vae, text_encoder, _ = DVPipelineLoader().load("tiny-modelscope", "fp32")[:4]
        (cond,) = DVTextEncode().encode(text_encoder, "a dog", "", 77, True)
        (latent,) = DVSampler().sample(model, 64, 48, 4, 1, 1.0, 0, conditioning=cond)
        result["modelscope"] = list(latent["samples"].shape)
        model, vae, text_encoder, _ = DVPipelineLoader().load("tiny-i2vgenxl", "fp32")[:4]
        try:
            (cond,) = DVTextEncode().encode(text_encoder, "a dog", "", 77, True)
            DVSampler().sample(model, 64, 48, 4, 1, 1.0, 0, conditioning=cond, image=torch.rand(1, 48, 64, 3))
            result["i2vgenxl"] = "ran"
        except DVInputError as error:
            result["i2vgenxl"] = str(error)
    print("RESULT " + json.dumps(result))
""")


def test_a_diffusers_without_i2vgenxl_fails_that_family_alone(tiny_models_dir, tmp_path):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "modelscope", "tiny-modelscope")
    install_into_models_dir(tiny_models_dir, "i2vgenxl", "tiny-i2vgenxl")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "DV_MODELS_DIR": tiny_models_dir}
    done = subprocess.run([sys.executable, str(script), TESTS], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert {"DVSampler", "DVPipelineLoader", "DVI2VGenXLOptions", "DVVideoCombine"} <= set(result["nodes"])
    assert result["modelscope"][2] == 4  # the other deprecated family still renders
    message = result["i2vgenxl"]  # the first node that needs the pipeline: text encoding goes through it
    assert message.startswith("DVTextEncode: input 'text_encoder'"), message
    assert "I2VGenXLPipeline" in message and "I2VGen-XL" in message and LAST_KNOWN_RELEASE in message


def test_the_message_when_no_release_has_the_class(monkeypatch):
    """The top-level alias is the fallback; with both gone the error says what to install."""
    import diffusers
    from diffusers_video.errors import DVInputError
    from diffusers_video.families import deprecated

    monkeypatch.setitem(deprecated.MOVED, "TextToVideoSDPipeline", "diffusers.no_such_module")
    assert moved_class("TextToVideoSDPipeline", "ModelScope") is diffusers.TextToVideoSDPipeline  # the alias
    monkeypatch.setattr(importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
    monkeypatch.delattr(diffusers, "TextToVideoSDPipeline", raising=False)
    lazy_getattr = type(diffusers).__getattr__

    def without_the_class(self, name):
        if name == "TextToVideoSDPipeline":
            raise AttributeError(name)
        return lazy_getattr(self, name)

    monkeypatch.setattr(type(diffusers), "__getattr__", without_the_class)
    with pytest.raises(DVInputError) as info:
        moved_class("TextToVideoSDPipeline", "ModelScope")
    assert "input 'model'" in str(info.value) and f"diffusers=={LAST_KNOWN_RELEASE}" in str(info.value)
    assert json.dumps(str(info.value))  # plain text, shown as is in the editor
