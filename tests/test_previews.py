"""A preview never costs a render: host.safe_previewer turns previews off (once, with a warning) rather than
let a latent that does not fit ComfyUI's format, or a failing previewer, end the run."""

from __future__ import annotations

import logging

import torch
from diffusers_video import host


def test_a_fitting_latent_is_previewed():
    made = []
    preview = host.safe_previewer(lambda x0: made.append(tuple(x0.shape)) or "jpeg", 16, "Wan21")
    assert preview(torch.zeros(1, 16, 3, 4, 4)) == "jpeg"
    assert made == [(1, 16, 3, 4, 4)]


def test_a_latent_of_other_channels_turns_previews_off_once(caplog):
    made = []
    preview = host.safe_previewer(lambda x0: made.append(x0), 128, "LTXV")
    with caplog.at_level(logging.WARNING, logger="DiffusersVideo"):
        assert preview(torch.zeros(1, 40, 128)) is None  # LTX's packed tokens, not unpacked
        assert preview(torch.zeros(1, 128, 2, 4, 4)) is None  # off for the rest of the run
    assert made == []
    assert len([r for r in caplog.records if "no previews" in r.getMessage()]) == 1
    assert "LTXV" in caplog.records[0].getMessage()


def test_a_failing_previewer_is_logged_once_and_the_run_goes_on(caplog):
    calls = []

    def broken(x0):
        calls.append(1)
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x12 and 16x3)")

    preview = host.safe_previewer(broken, None, "HunyuanVideo")
    with caplog.at_level(logging.WARNING, logger="DiffusersVideo"):
        assert preview(torch.zeros(1, 12, 2, 4, 4)) is None
        assert preview(torch.zeros(1, 12, 2, 4, 4)) is None
    assert calls == [1]
    assert "mat1 and mat2" in caplog.text
