"""Previews show the predicted clean sample, as ComfyUI's own samplers do, and the progress bar ends at 100%
in every mode; neither changes a frame."""

from __future__ import annotations

import pytest
import torch
from diffusers_video import host
from parity import Shot, load_parts, sample_latent

SHOT = Shot(64, 48, 9, 3, 5.0, 11, "a fox in the snow", "blurry", 512)


@pytest.fixture(scope="module")
def wan(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    return load_parts("tiny-wan")


def recording(monkeypatch) -> tuple[list, list]:
    previews, progress = [], []
    monkeypatch.setattr(host, "latent_previewer", lambda fmt: lambda x0: previews.append(x0.clone()) or "jpeg")
    real_update = host.Progress.update

    def update(self, n=1, preview=None):
        real_update(self, n, preview)
        progress.append((self.current, self.total))

    monkeypatch.setattr(host.Progress, "update", update)
    return previews, progress


def test_flow_matching_previews_are_the_predicted_clean_sample(wan, monkeypatch):
    """Wan's UniPC on flow sigmas: x0 = sample - sigma * velocity; at the last step (sigma 0 next) the
    prediction is the result itself, and earlier ones are not the noisy latents."""
    plain = sample_latent(wan, SHOT)["samples"]
    previews, progress = recording(monkeypatch)
    latent = sample_latent(wan, SHOT)["samples"]
    assert torch.equal(latent, plain)  # watching the scheduler changes nothing
    assert len(previews) == SHOT.steps and progress[-1] == (SHOT.steps, SHOT.steps)
    assert (previews[-1] - latent).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", ["FlowMatchEulerDiscreteScheduler", "UniPCMultistepScheduler", "DDIMScheduler"])
def test_the_prediction_is_the_schedulers_own(name):
    import diffusers
    from diffusers_video.samplers.pipeline import predicting_clean_samples

    config = {"prediction_type": "flow_prediction", "use_flow_sigmas": True} if name.startswith("UniPC") else {}
    scheduler = getattr(diffusers, name)(**config)
    scheduler.set_timesteps(3)
    sample, velocity = torch.randn(1, 4, 2, 8, 8), torch.randn(1, 4, 2, 8, 8)
    predicted: dict = {}
    t = scheduler.timesteps[0]
    with predicting_clean_samples(scheduler, predicted):
        out = scheduler.step(velocity, t, sample, return_dict=True)
    assert "step" not in vars(scheduler)  # the class's own method again
    if name == "DDIMScheduler":
        expected = out.pred_original_sample
    else:
        expected = sample - scheduler.sigmas[0] * velocity
    assert torch.allclose(predicted["x0"], expected, atol=1e-6)


def test_video_to_video_progress_ends_at_100_percent(tiny_models_dir, monkeypatch):
    from diffusers_video.nodes.options import NODES
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "cogvideox", "tiny-cogvideox")
    parts = load_parts("tiny-cogvideox")
    options = next(c for c in NODES if c.__name__ == "DVCogVideoXOptions")().build(use_dynamic_cfg=False,
                                                                                   strength=0.5)[0]
    video = torch.rand(9, 48, 64, 3)
    _, progress = recording(monkeypatch)
    sample_latent(parts, Shot(64, 48, 9, 4, 6.0, 3, "a fox", "", 226), vae=parts[1], video=video, options=options)
    assert progress[-1][0] == progress[-1][1] == 2  # strength 0.5 of 4 steps: 2 steps run, 2 of 2 shown
