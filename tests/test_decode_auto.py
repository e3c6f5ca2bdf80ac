"""DVVAEDecode memory "auto": chunk from free memory; out-of-memory is freed and retried smaller, then fails
naming every attempt."""

from __future__ import annotations

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.families import cogvideox as glue
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from diffusers_video.samplers import decode_auto


@pytest.fixture(scope="module")
def made(tiny_cogvideox_path):
    with torch.inference_mode():
        model, vae, text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (cond,) = DVTextEncode().encode(text_encoder, "a train", "", 226, True)
        (latent,) = DVSampler().sample(model, 32, 32, 9, 2, 1.0, 0, conditioning=cond)
    return vae, latent


def flaky(monkeypatch, fails):
    """The family's decode, raising out-of-memory for the settings `fails` picks; records every call."""
    real, calls = glue.decode, []

    def decode(vae, latent, settings):
        calls.append(settings)
        if fails(settings):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(vae, latent, settings)

    monkeypatch.setattr(glue, "decode", decode)
    return calls


def test_recovers_from_an_injected_out_of_memory(made, monkeypatch):
    vae, latent = made
    with torch.inference_mode():
        expected = DVVAEDecode().decode(vae, latent, 1, "off", 0, 0.0)[0]
    calls = flaky(monkeypatch, lambda s: s.chunk > 1 and not s.tiling)
    emptied = []
    monkeypatch.setattr(host, "soft_empty_cache", lambda: emptied.append(1))
    with torch.inference_mode():
        frames = DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0, "auto")[0]
    assert [(s.chunk, s.tiling) for s in calls] == [(3, False), (1, False)]  # 3 latent frames, then halved
    assert len(emptied) == 1
    assert torch.equal(frames, expected)


def test_gives_up_naming_what_it_tried(made, monkeypatch, tmp_path):
    vae, latent = made
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "output"))  # where the unsaved latent is rescued to
    flaky(monkeypatch, lambda s: True)
    monkeypatch.setattr(host, "soft_empty_cache", lambda: None)
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0, "auto")
    message = str(info.value)
    assert "DVVAEDecode" in message and "memory" in message
    assert "chunk 3; chunk 1; chunk 1, tiles default px; chunk 1, tiles 256 px" in message


def test_other_errors_are_not_retried(made, monkeypatch):
    vae, latent = made

    def broken(*_):
        raise ValueError("a real bug")

    monkeypatch.setattr(glue, "decode", broken)
    with pytest.raises(ValueError, match="a real bug"), torch.inference_mode():
        DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0, "auto")


def test_first_chunk_follows_free_memory(made, monkeypatch):
    vae, latent = made
    samples = latent["samples"]
    assert decode_auto.first_chunk(samples, 8, 4, 1 << 40) == samples.shape[2]
    assert decode_auto.first_chunk(samples, 8, 4, 1 << 20) == 1
    calls = flaky(monkeypatch, lambda s: False)
    monkeypatch.setattr(host, "free_memory_bytes", lambda device=None: 1 << 20)
    with torch.inference_mode():
        DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0, "auto")
    assert [s.chunk for s in calls] == [1]
