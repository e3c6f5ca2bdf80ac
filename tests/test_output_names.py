"""Output names (issue 12): a filename_prefix no OS could keep or /view could serve is refused by name before any
encoding starts, in the video and the latent writer alike; temporary files never stay behind; where the file
system has no hard links, the final name is claimed with an exclusive create, so nothing is ever overwritten."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.latents import DVSaveLatent
from diffusers_video.nodes.video import DVVideoCombine
from diffusers_video.video_io import latent_file, writer


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Output folder and a system temp folder of the test's own, so leftovers in either can be seen."""
    import tempfile

    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("DV_DISABLE_METADATA", "0")
    (tmp_path / "systemp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "systemp"))
    return tmp_path


def files_under(folder) -> set[str]:
    return {os.path.relpath(os.path.join(root, name), folder)
            for root, _dirs, names in os.walk(folder) for name in names}


def frames(count: int = 4) -> torch.Tensor:
    return torch.rand(count, 16, 16, 3)


def combine(prefix="DiffusersVideo", fmt="video/h264-mp4", prompt=None):
    prompt = prompt or {"1": {"class_type": "DVSampler", "inputs": {"text": "the whole prompt"}}}
    return DVVideoCombine().combine(frames(), 8.0, prefix, fmt, 19, 0, False, True, prompt, {"workflow": {}})


def a_latent() -> dict:
    return {"samples": torch.zeros(1, 4, 2, 8, 8), "dv_family": "cogvideox"}


BAD_PREFIXES = [
    ("run\nnext", "a newline"),
    ("run\tnext", "a tab"),
    ("run\x00.mp4", "a NUL byte"),
    ("run\r", "a carriage return"),
    ("run\x1b[31m", "the control character U+001B"),
    ("run\x7f", "the control character U+007F"),
    ("run\u2028x", "the control character U+2028"),
    ("x" * 201, "a name part of 201 characters"),
    ("CogVideoX/" + "y" * 300 + "/run", "a name part of 300 characters"),
    ("CON", "a device name Windows reserves"),
    ("con.mp4", "a device name Windows reserves"),
    ("Videos/nul.txt/run", "a device name Windows reserves"),
    ("COM1", "a device name Windows reserves"),
    ("lpt9.tar.gz", "a device name Windows reserves"),
    ("aux.txt/run", "a device name Windows reserves"),
    ("run.", "ending in a dot"),
    ("run../x", "ending in a dot"),
    ("folder /run", "ending in a space"),
]


@pytest.mark.parametrize("prefix,why", BAD_PREFIXES)
def test_a_bad_prefix_is_refused_by_the_video_writer_before_encoding(folders, monkeypatch, prefix, why):
    started = []
    monkeypatch.setattr(writer, "to_uint8_frames", lambda *a: started.append(1))
    monkeypatch.setattr(writer, "_write_ffmpeg", lambda *a, **k: started.append(1))
    with pytest.raises(DVInputError) as info:
        combine(prefix)
    message = str(info.value)
    assert message.startswith("DVVideoCombine: input 'filename_prefix': ") and why in message
    assert "Valid: a file name of printable characters" in message and "CON, PRN, AUX, NUL" in message
    assert "\n" not in message and "\x00" not in message  # the name is shown escaped
    assert not started
    assert files_under(folders) == set()


@pytest.mark.parametrize("prefix,why", BAD_PREFIXES)
def test_a_bad_prefix_is_refused_by_the_latent_writer(folders, prefix, why):
    with pytest.raises(DVInputError) as info:
        DVSaveLatent().save(a_latent(), prefix)
    message = str(info.value)
    assert message.startswith("DVSaveLatent: input 'filename_prefix': ") and why in message
    assert files_under(folders) == set()


def test_a_name_over_the_file_systems_limit_is_refused(folders, monkeypatch):
    monkeypatch.setattr(writer, "_name_limits", lambda root: (100, 4096))
    message = str(pytest.raises(DVInputError, combine, "z" * 80).value)
    assert message.startswith("DVVideoCombine: input 'filename_prefix': ") and "(100 bytes" in message
    monkeypatch.setattr(writer, "_name_limits", lambda root: (255, len(str(folders)) + 60))
    message = str(pytest.raises(DVInputError, combine, "a/b/c/d/e/f/g/h/i/j/k/l/m/n").value)
    assert "makes a path longer than this system allows" in message
    assert files_under(folders) == set()


def test_multibyte_names_count_in_bytes(folders):
    message = str(pytest.raises(DVInputError, combine, "視" * 150).value)  # 150 characters, 450 bytes
    assert message.startswith("DVVideoCombine: input 'filename_prefix': ") and "bytes" in message


@pytest.mark.parametrize("prefix", ["CogVideoX/run", "Wan 2.1/t2v-480p", "CONSOLE", "com10", "my.video",
                                    "  padded  ", "x" * 200, "視頻/第一"])
def test_good_prefixes_still_write(folders, prefix):
    path = combine(prefix, fmt="image/gif")["result"][0]
    assert os.path.isfile(path) and path.startswith(str(folders / "output"))
    assert os.listdir(folders / "systemp") == []


def writer_subprocess(popen):
    """The writer's view of the subprocess module with another Popen (others, e.g. imageio's ffmpeg lookup, keep
    the real one)."""
    import subprocess
    from types import SimpleNamespace

    return SimpleNamespace(Popen=popen, PIPE=subprocess.PIPE)


def test_the_metadata_file_is_removed_when_the_encoder_cannot_start(folders, monkeypatch):
    def cannot_start(*args, **kwargs):
        assert any(name.endswith(".ffmeta") for name in os.listdir(folders / "systemp"))  # it did exist
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "ffmpeg")

    monkeypatch.setattr(writer, "subprocess", writer_subprocess(cannot_start))
    with pytest.raises(RuntimeError, match="DVVideoCombine: ffmpeg could not be started to write the video/h264-mp4"):
        combine()
    assert os.listdir(folders / "systemp") == []
    assert files_under(folders / "output") == set()


def test_the_metadata_and_sound_files_are_removed_when_the_encoder_fails(folders, monkeypatch):
    import subprocess

    seen = []

    class Failing(subprocess.Popen):
        def __init__(self, command, **kwargs):
            seen.extend(name for name in os.listdir(folders / "systemp"))
            super().__init__(command[:1] + ["-hide_banner", "-loglevel", "error", "-f", "nonsense", "-i", "-",
                                            "-f", "null", "-"], **kwargs)

    monkeypatch.setattr(writer, "subprocess", writer_subprocess(Failing))
    audio = {"waveform": torch.zeros(1, 1, 8000), "sample_rate": 16000}
    with pytest.raises(RuntimeError, match="DVVideoCombine: ffmpeg could not write"):
        DVVideoCombine().combine(frames(), 8.0, "run", "video/h264-mp4", 19, 0, False, True,
                                 {"1": {"inputs": {}}}, {"workflow": {}}, audio=audio)
    assert any(n.endswith(".ffmeta") for n in seen) and any(n.endswith(".wav") for n in seen)
    assert os.listdir(folders / "systemp") == []
    assert files_under(folders / "output") == set()


def test_the_metadata_file_is_removed_after_success(folders):
    combine()
    assert os.listdir(folders / "systemp") == []
    assert files_under(folders) == {os.path.join("output", "DiffusersVideo_00001.mp4")}


# ------------------------------------------------------------------------------------- no hard links


@pytest.fixture
def no_hard_links(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted (no hard links on this file system)")

    monkeypatch.setattr(os, "link", refuse)


@pytest.mark.parametrize("fmt", ["video/h264-mp4", "image/gif"])
def test_without_hard_links_the_next_name_is_claimed_and_nothing_is_overwritten(folders, no_hard_links, fmt):
    extension = "mp4" if "mp4" in fmt else "gif"
    (folders / "output").mkdir()
    first = combine("run", fmt)["result"][0]
    first_bytes = open(first, "rb").read()
    theirs = folders / "output" / f"run_00002.{extension}"
    theirs.write_bytes(b"theirs")
    original = writer.next_counter
    writer_counter = []

    def stale_counter(folder, name, ext):  # another process's file appears after the scan
        writer_counter.append(original(folder, name, ext))
        return 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer, "next_counter", stale_counter)
        second = combine("run", fmt)["result"][0]
    assert os.path.basename(first) == f"run_00001.{extension}"
    assert os.path.basename(second) == f"run_00003.{extension}"
    assert open(first, "rb").read() == first_bytes and theirs.read_bytes() == b"theirs"
    assert open(second, "rb").read()[:3] != b"the" and os.path.getsize(second) > 0
    expected = {f"run_0000{i}.{extension}" for i in (1, 2, 3)}
    if extension == "gif":  # the companion PNGs are claimed the same way
        expected |= {"run_00001.png", "run_00003.png"}
    assert set(os.listdir(folders / "output")) == expected  # no hidden partial files left
    assert os.listdir(folders / "systemp") == []


def test_without_hard_links_latents_are_claimed_the_same_way(folders, no_hard_links):
    first = DVSaveLatent().save(a_latent(), "lat")
    second = DVSaveLatent().save(a_latent(), "lat")
    names = sorted(os.listdir(folders / "output"))
    assert names == ["lat_00001.safetensors", "lat_00002.safetensors"]
    assert latent_file.read_latent(str(folders / "output" / names[1]))["dv_family"] == "cogvideox"
    assert first["ui"]["text"] != second["ui"]["text"]


def test_a_copy_that_fails_leaves_no_file_under_the_final_name(folders, no_hard_links, monkeypatch):
    def disk_full(source, target, length=0):
        target.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.shutil, "copyfileobj", disk_full)
    with pytest.raises(OSError, match="No space left"):
        DVSaveLatent().save(a_latent(), "lat")
    assert files_under(folders / "output") == set()


def test_publish_never_replaces_an_existing_file(tmp_path, no_hard_links):
    source, target = tmp_path / "new", tmp_path / "old"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    assert writer.publish(str(source), str(target)) is False
    assert target.read_bytes() == b"old"
