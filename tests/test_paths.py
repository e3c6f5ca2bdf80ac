"""The read policy (issue 12): loader nodes read only from ComfyUI's input, output and temp folders and the folders
listed in DV_ALLOWED_READ_DIRS, with symlinks resolved; outside them a missing file and a file the node may not
read get the same answer, which says how to allow a folder. Model listings follow symlinks without looping, and
are walked again only when a folder in them changed."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.latents import DVLoadLatent
from diffusers_video.nodes.video import DVLoadVideo, DVVideoCombine

POLICY = "does not exist, or is not in a folder this node may read"


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("DV_INPUT_DIR", str(tmp_path / "input"))
    monkeypatch.delenv(host.READ_DIRS_SETTING, raising=False)
    (tmp_path / "input").mkdir()
    (tmp_path / "elsewhere").mkdir()
    return tmp_path


def files_under(folder) -> set[str]:
    return {os.path.relpath(os.path.join(root, name), folder)
            for root, _dirs, names in os.walk(folder) for name in names}


def a_gif() -> str:
    frames = torch.rand(3, 16, 16, 3)
    return DVVideoCombine().combine(frames, 8.0, "clip", "image/gif", 19, 0, False, True)["result"][0]


def load(video="", path=""):
    return DVLoadVideo().load(video, 0, 0, 1, 0, 0, path)


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(DVInputError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_a_file_outside_and_a_missing_file_get_the_same_answer(folders):
    outside = folders / "elsewhere" / "secret.gif"
    shutil.copy(a_gif(), outside)
    before = files_under(folders)
    exists = refused(load, path=str(outside))
    os.remove(outside)
    missing = refused(load, path=str(outside))
    assert exists == missing
    assert exists.startswith("DVLoadVideo: input 'path': ") and POLICY in exists
    assert host.READ_DIRS_SETTING in exists and "Valid:" in exists
    assert files_under(folders) == before - {"elsewhere/secret.gif"}


def test_a_file_that_is_not_a_video_outside_gets_the_same_answer_as_none(folders):
    """The format check comes after the policy: 'not a video format' never tells that a file exists."""
    secret = folders / "elsewhere" / "passwords.txt"
    secret.write_text("hunter2")
    exists = refused(load, path=str(secret))
    secret.unlink()
    assert refused(load, path=str(secret)) == exists
    assert "not a video format" not in exists and POLICY in exists


def test_a_saved_workflow_with_an_absolute_path_gets_the_policy_answer(folders):
    message = refused(load, "clip.mp4", path="/home/someone/Videos/holiday.mp4")
    assert message.startswith("DVLoadVideo: input 'path': '/home/someone/Videos/holiday.mp4' " + POLICY)
    assert f"list it in the environment variable {host.READ_DIRS_SETTING}" in message


@pytest.mark.parametrize("video,path", [
    ("../elsewhere/secret.gif", ""), ("", "../elsewhere/secret.gif"), ("../../secret.gif [output]", ""),
    ("", "~/secret.gif"),
])
def test_names_leaving_the_folders_get_the_policy_answer_whether_or_not_the_file_exists(folders, video, path):
    input_name = "path" if path else "video"
    shutil.copy(a_gif(), folders / "elsewhere" / "secret.gif")
    exists = refused(load, video, path=path)
    os.remove(folders / "elsewhere" / "secret.gif")
    assert refused(load, video, path=path) == exists
    assert exists.startswith(f"DVLoadVideo: input '{input_name}': ") and POLICY in exists


def test_the_setting_allows_a_folder(folders, monkeypatch):
    outside = folders / "elsewhere" / "clip.gif"
    shutil.copy(a_gif(), outside)
    assert POLICY in refused(load, path=str(outside))
    monkeypatch.setenv(host.READ_DIRS_SETTING, os.pathsep.join(["", "relative/ignored", str(folders / "elsewhere")]))
    assert load(path=str(outside))[1] == 3
    assert os.path.realpath(folders / "elsewhere") in host.allowed_read_folders()


def test_a_symlink_in_the_input_folder_pointing_outside_is_refused(folders, monkeypatch):
    outside = folders / "elsewhere" / "clip.gif"
    shutil.copy(a_gif(), outside)
    os.symlink(outside, folders / "input" / "link.gif")
    os.symlink(folders / "elsewhere", folders / "input" / "linked_folder")
    by_name = refused(load, "link.gif")
    assert by_name.startswith("DVLoadVideo: input 'video': 'link.gif' " + POLICY)
    assert refused(load, path="linked_folder/clip.gif").startswith("DVLoadVideo: input 'path': ")
    os.remove(outside)
    assert refused(load, "link.gif") == by_name  # a dangling link: the same answer
    shutil.copy(folders / "output" / "clip_00001.gif", outside)
    monkeypatch.setenv(host.READ_DIRS_SETTING, str(folders / "elsewhere"))
    assert load("link.gif")[1] == 3  # allowed once its real folder is listed


def test_a_symlink_inside_the_allowed_folders_still_works(folders):
    os.symlink(a_gif(), folders / "input" / "from_output.gif")
    assert load("from_output.gif")[1] == 3


def test_relative_and_annotated_names_keep_working(folders):
    written = a_gif()
    shutil.copy(written, folders / "input" / "mine.gif")
    assert load("mine.gif")[1] == 3
    assert load(path="mine.gif")[1] == 3
    assert load(f"{os.path.basename(written)} [output]")[1] == 3
    assert load(path=written)[1] == 3  # a full path inside the output folder


def test_a_nul_byte_in_a_path_is_the_policy_answer_not_a_crash(folders):
    assert POLICY in refused(load, path="clip\x00.gif")


def test_the_latent_loader_follows_the_same_policy(folders):
    from safetensors.torch import save_file

    save_file({"samples": torch.zeros(1, 4, 2, 8, 8)}, str(folders / "elsewhere" / "l.safetensors"),
              metadata={"dv_latent_format": "1", "dv_values": "{}"})
    os.symlink(folders / "elsewhere" / "l.safetensors", folders / "input" / "l.safetensors")
    exists = refused(DVLoadLatent().load, "l.safetensors")
    os.remove(folders / "elsewhere" / "l.safetensors")
    assert refused(DVLoadLatent().load, "l.safetensors") == exists
    assert exists.startswith("DVLoadLatent: input 'latent': 'l.safetensors' " + POLICY)
    assert DVLoadLatent.IS_CHANGED("l.safetensors") != DVLoadLatent.IS_CHANGED("l.safetensors")  # NaN


# ------------------------------------------------------------------------------------------------ listings


@pytest.fixture
def models(tmp_path, monkeypatch):
    root = tmp_path / "models"
    monkeypatch.setenv("DV_MODELS_DIR", str(root))
    for kind in ("diffusers", "loras"):
        (root / kind).mkdir(parents=True)
    return root


def listed(function, *args, timeout: float = 30.0):
    """The listing, from a thread, so a walk that loops fails the test instead of hanging it."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(function(*args)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the listing did not finish: a symlink loop?"
    return result[0]


def test_symlink_loops_are_listed_without_hanging_and_outside_links_are_followed(models, tmp_path):
    (models / "diffusers" / "local" / "sub").mkdir(parents=True)
    (models / "diffusers" / "local" / "model_index.json").write_text("{}")
    elsewhere = tmp_path / "big_disk" / "wan"
    elsewhere.mkdir(parents=True)
    (elsewhere / "model_index.json").write_text("{}")
    os.symlink(elsewhere, models / "diffusers" / "wan")  # a model on another disk: a common setup
    os.symlink(elsewhere, models / "diffusers" / "wan-again")  # a second name for it is listed too
    os.symlink(models / "diffusers", models / "diffusers" / "local" / "sub" / "loop")  # back up: a loop
    os.symlink(models / "diffusers" / "local", models / "diffusers" / "local" / "self")
    (models / "loras" / "style.safetensors").write_bytes(b"")
    os.symlink(models / "loras", models / "loras" / "again")
    os.symlink(tmp_path / "x", tmp_path / "y")
    os.symlink(tmp_path / "y", tmp_path / "x")
    os.symlink(tmp_path / "x", models / "loras" / "cycle")  # a symlink cycle that resolves to nothing
    assert listed(host.list_diffusers_folders) == ["local", "wan", "wan-again"]
    assert listed(host.list_model_files, "loras") == ["style.safetensors"]


def age(folder, seconds: float = 60) -> None:
    """Give every folder under `folder` an mtime `seconds` ago (a tree that was not just written)."""
    old = time.time_ns() - int(seconds * 1e9)
    for root, _dirs, _files in os.walk(folder):
        os.utime(root, ns=(old, old))


def test_a_listing_is_walked_again_only_when_a_folder_in_it_changed(models, monkeypatch):
    (models / "loras" / "deep" / "er").mkdir(parents=True)
    (models / "loras" / "deep" / "er" / "a.safetensors").write_bytes(b"")
    age(models)
    walks = []
    original = host.walk_without_loops
    monkeypatch.setattr(host, "walk_without_loops", lambda base: walks.append(base) or original(base))
    assert host.list_model_files("loras") == [os.path.join("deep", "er", "a.safetensors")]
    assert host.list_model_files("loras") == [os.path.join("deep", "er", "a.safetensors")]
    assert len(walks) == 1  # the refresh used the cache
    target = models / "loras" / "deep" / "er"
    stamp = os.stat(target).st_mtime_ns
    (target / "b.safetensors").write_bytes(b"")
    os.utime(target, ns=(stamp + 1_000_000, stamp + 1_000_000))  # a change deep in the tree, however coarse
    expected = [os.path.join("deep", "er", n) for n in ("a.safetensors", "b.safetensors")]
    assert host.list_model_files("loras") == expected
    assert host.list_model_files("loras") == expected
    assert len(walks) == 2


def test_a_change_in_the_same_clock_tick_as_the_walk_is_not_missed(models):
    """A listing of folders changed just now is not kept: a coarse mtime could hide the next change."""
    folder = models / "diffusers" / "new"
    folder.mkdir()
    assert host.list_diffusers_folders() == []
    stamp = os.stat(folder).st_mtime_ns
    (folder / "model_index.json").write_text("{}")
    os.utime(folder, ns=(stamp, stamp))  # the same mtime as at the walk
    assert host.list_diffusers_folders() == ["new"]
