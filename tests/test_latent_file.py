"""Latents that survive: DVSaveLatent / DVLoadLatent keep every key decoding needs (a reloaded latent decodes
exactly as the original), never overwrite, read safetensors only, refuse what is not theirs by name; and a decode
that runs out of memory leaves the latent in the output folder, saying where."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.families import ltx as ltx_glue
from diffusers_video.nodes.latents import DVLoadLatent, DVSaveLatent, latent_choices
from diffusers_video.nodes.vae import DVVAEDecode
from diffusers_video.video_io import latent_file
from parity import Shot, decode, sample_latent, tiny_model_fixtures
from safetensors.torch import save_file

LTX_SHOT = Shot(64, 32, 9, 2, guidance=3.0, seed=17, prompt="a sailing boat", max_len=128)
COG_SHOT = Shot(32, 32, 9, 2, guidance=1.0, seed=0, prompt="a train")
SAVED_TO = re.compile(r"saved to (\S+\.safetensors)")

ltx_path, ltx_parts = tiny_model_fixtures("ltx")
cog_path, cog_parts = tiny_model_fixtures("cogvideox")


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch):
    """Input and output folders of the test's own (the host seam reads them from the environment)."""
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("DV_INPUT_DIR", str(tmp_path / "input"))
    os.makedirs(tmp_path / "input")
    return tmp_path


@pytest.fixture(scope="module")
def ltx_latent(ltx_parts):
    return sample_latent(ltx_parts, LTX_SHOT)


@pytest.fixture(scope="module")
def cog_latent(cog_parts):
    return sample_latent(cog_parts, COG_SHOT)


def save(latent, prefix="DiffusersVideo/latent") -> tuple[dict, str]:
    """DVSaveLatent: (its return value, the name DVLoadLatent lists the file under)."""
    out = DVSaveLatent().save(latent, prefix)
    return out, out["ui"]["text"][0]


def refused(call, *args) -> str:
    with pytest.raises(DVInputError) as info:
        call(*args)
    return str(info.value)


def assert_same_latent(loaded: dict, original: dict) -> None:
    assert set(loaded) == set(original)
    for key, value in original.items():
        if isinstance(value, torch.Tensor):
            assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value.cpu()), key
        else:
            assert loaded[key] == value, key


def test_ltx_latent_decodes_the_same_after_a_server_restart(ltx_parts, ltx_latent, folders):
    """Every LTX key survives (decode noise, timestep, noise scale), read back by a fresh Python process."""
    assert {"dv_decode_noise", "dv_decode_timestep", "dv_decode_noise_scale"} <= set(ltx_latent)
    out, name = save(ltx_latent)
    assert out["result"][0] is ltx_latent  # passed on unchanged, to sit between DVSampler and DVVAEDecode
    assert name == "DiffusersVideo/latent_00001.safetensors [output]"
    assert name in latent_choices()
    expected = decode(ltx_parts, ltx_latent)

    frames_file = folders / "frames.safetensors"
    script = (
        "import sys, torch\n"
        "from safetensors.torch import save_file\n"
        "from diffusers_video.nodes.latents import DVLoadLatent\n"
        "from diffusers_video.nodes.loaders import DVPipelineLoader\n"
        "from diffusers_video.nodes.vae import DVVAEDecode\n"
        "with torch.inference_mode():\n"
        "    (latent,) = DVLoadLatent().load(sys.argv[1])\n"
        "    vae = DVPipelineLoader().load('tiny-ltx', 'fp32')[1]\n"
        "    frames = DVVAEDecode().decode(vae, latent, 0, 'off', 0, 0.0)[0]\n"
        "save_file({'frames': frames.contiguous()}, sys.argv[2])\n"
    )
    done = subprocess.run([sys.executable, "-c", script, name, str(frames_file)], capture_output=True, text=True,
                          cwd=folders, env=os.environ.copy(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    from safetensors.torch import load_file

    frames = load_file(str(frames_file))["frames"]
    assert frames.shape == expected.shape
    assert (frames - expected).abs().max().item() == 0
    assert expected.std() > 0.01


def test_cogvideox_latent_round_trips(cog_parts, cog_latent, folders):
    _, name = save(cog_latent, "cog/run")
    (loaded,) = DVLoadLatent().load(name)
    assert_same_latent(loaded, cog_latent)
    assert (decode(cog_parts, loaded) - decode(cog_parts, cog_latent)).abs().max().item() == 0
    # Copied to the input folder, the same file loads by its plain name.
    copy = folders / "input" / "resume.safetensors"
    copy.write_bytes((folders / "output" / "cog" / "run_00001.safetensors").read_bytes())
    assert "resume.safetensors" in latent_choices()
    assert_same_latent(DVLoadLatent().load("resume.safetensors")[0], cog_latent)


def test_the_prompt_and_workflow_ride_along(cog_latent, folders):
    from safetensors import safe_open

    out = DVSaveLatent().save(cog_latent, "meta", prompt={"1": {"class_type": "DVSampler"}},
                              extra_pnginfo={"workflow": {"nodes": []}})
    with safe_open(str(folders / "output" / out["ui"]["latents"][0]["filename"]), "pt") as handle:
        metadata = handle.metadata()
    assert json.loads(metadata["prompt"]) == {"1": {"class_type": "DVSampler"}}
    assert json.loads(metadata["workflow"]) == {"nodes": []}


def test_never_overwrites(cog_latent, folders):
    first = folders / "output" / "keep_00001.safetensors"
    save(cog_latent, "keep")
    before = first.read_bytes()
    _, second = save(cog_latent, "keep")
    assert second == "keep_00002.safetensors [output]"
    assert first.read_bytes() == before
    (folders / "output" / "keep_00003.safetensors").write_bytes(b"someone else's")
    _, fourth = save(cog_latent, "keep")
    assert fourth == "keep_00004.safetensors [output]"
    assert (folders / "output" / "keep_00003.safetensors").read_bytes() == b"someone else's"
    assert not [f for f in os.listdir(folders / "output") if f.startswith(".")]  # no temporary left behind


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/tmp/escape"])
def test_a_prefix_leaving_the_output_folder_is_refused(cog_latent, folders, prefix):
    message = refused(DVSaveLatent().save, cog_latent, prefix)
    assert message.startswith("DVSaveLatent: input 'filename_prefix'")
    assert "outside the output folder" in message
    assert not (folders / "escape_00001.safetensors").exists()


def test_what_a_file_cannot_keep_is_refused(cog_latent):
    message = refused(DVSaveLatent().save, {**cog_latent, "dv_callback": object()}, "x")
    assert message.startswith("DVSaveLatent: input 'samples'") and "'dv_callback'" in message
    assert refused(DVSaveLatent().save, {"not": "a latent"}, "x").startswith("DVSaveLatent: input 'samples'")


def test_a_safetensors_file_that_is_not_a_dv_latent_is_refused(folders):
    save_file({"latent_tensor": torch.zeros(1, 4, 8, 8)}, str(folders / "input" / "core.safetensors"),
              metadata={"latent_format_version_0": "1"})
    assert "core.safetensors" not in latent_choices()
    message = refused(DVLoadLatent().load, "core.safetensors")
    assert message.startswith("DVLoadLatent: input 'latent': 'core.safetensors'")
    assert "not a latent saved by DVSaveLatent" in message


def test_a_corrupt_file_is_refused(cog_latent, folders):
    _, name = save(cog_latent, "whole")
    data = (folders / "output" / "whole_00001.safetensors").read_bytes()
    (folders / "input" / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (folders / "input" / "garbage.safetensors").write_bytes(b"\x80" * 64)
    for bad in ("truncated.safetensors", "garbage.safetensors"):
        message = refused(DVLoadLatent().load, bad)
        assert message.startswith(f"DVLoadLatent: input 'latent': '{bad}'") and "could not be read" in message


def test_a_newer_format_is_refused(folders):
    save_file({"samples": torch.zeros(1, 4, 2, 8, 8)}, str(folders / "input" / "future.safetensors"),
              metadata={latent_file.FORMAT_KEY: "99", latent_file.VALUES_KEY: "{}"})
    message = refused(DVLoadLatent().load, "future.safetensors")
    assert message.startswith("DVLoadLatent: input 'latent'") and "newer than this pack reads" in message


@pytest.mark.parametrize("name", ["../outside.safetensors", "/etc/passwd", "missing.safetensors", ""])
def test_names_outside_the_folders_or_missing_are_refused(name):
    assert refused(DVLoadLatent().load, name).startswith("DVLoadLatent: input 'latent'")


def test_another_familys_latent_is_refused_by_the_decoder(ltx_parts, cog_latent):
    _, name = save(cog_latent)
    (loaded,) = DVLoadLatent().load(name)
    assert loaded["dv_family"] == "cogvideox"
    with torch.inference_mode():
        message = refused(DVVAEDecode().decode, ltx_parts[1], loaded, 0, "off", 0, 0.0)
    assert message.startswith("DVVAEDecode: input 'vae'") and "cogvideox" in message


def out_of_memory(monkeypatch):
    def decode(vae, latent, settings):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(ltx_glue, "decode", decode)


def rescued(message: str, folders) -> str:
    """The path the error names, checked to be a file in the output folder's unsaved_latent series."""
    path = SAVED_TO.search(message).group(1)
    assert os.path.isfile(path)
    assert os.path.dirname(path) == str(folders / "output" / "DiffusersVideo")
    assert os.path.basename(path).startswith("unsaved_latent_")
    assert "DVLoadLatent" in message and "DVVAEDecode" in message
    return path


def test_out_of_memory_saves_the_latent_and_says_where(ltx_parts, ltx_latent, folders, monkeypatch):
    expected = decode(ltx_parts, ltx_latent)
    with monkeypatch.context() as patch, torch.inference_mode():
        out_of_memory(patch)
        message = refused(DVVAEDecode().decode, ltx_parts[1], ltx_latent, 0, "off", 0, 0.0)
    assert message.startswith("DVVAEDecode: input 'samples': out of memory")
    path = rescued(message, folders)
    # The name it is listed under resumes the decode: the very frames.
    name = os.path.relpath(path, folders / "output").replace(os.sep, "/") + " [output]"
    assert name in latent_choices()
    (loaded,) = DVLoadLatent().load(name)
    assert_same_latent(loaded, ltx_latent)
    assert (decode(ltx_parts, loaded) - expected).abs().max().item() == 0


def test_out_of_memory_in_auto_mode_saves_the_latent_too(ltx_parts, ltx_latent, folders, monkeypatch):
    from diffusers_video import host

    out_of_memory(monkeypatch)
    monkeypatch.setattr(host, "soft_empty_cache", lambda: None)
    with torch.inference_mode():
        message = refused(DVVAEDecode().decode, ltx_parts[1], ltx_latent, 0, "off", 0, 0.0, "auto")
    assert message.startswith("DVVAEDecode: input 'memory': out of memory in every attempt")
    assert_same_latent(latent_file.read_latent(rescued(message, folders)), ltx_latent)


def test_other_decode_errors_save_nothing(ltx_parts, ltx_latent, folders, monkeypatch):
    def broken(*_):
        raise ValueError("a real bug")

    monkeypatch.setattr(ltx_glue, "decode", broken)
    with pytest.raises(ValueError, match="a real bug"), torch.inference_mode():
        DVVAEDecode().decode(ltx_parts[1], ltx_latent, 0, "off", 0, 0.0)
    assert not (folders / "output").exists()
