"""Helios: the node graph against HeliosPipeline on a tiny offline model, for text-, image- and video-to-video,
one chunk and two (the second conditioned on the first's history)."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.families.helios import FRAME_RULE
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT = "a tropical fish swims among colourful corals"
NEGATIVE = "static, blurred details"
W, H, STEPS, SEED = 32, 32, 2, 7
SHOT = Shot(W, H, 33, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)

path, parts = tiny_model_fixtures("helios")


def moving_frames(count: int, height: int = H, width: int = W) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    frames = [torch.stack([(x + t / count) % 1 * torch.ones_like(y), y * torch.ones_like(x), (x * y + t / 7) % 1], -1)
              for t in range(count)]
    return (torch.stack(frames).float() * 255).round() / 255


def reference(folder: str, shot: Shot = SHOT, **kwargs) -> torch.Tensor:
    from diffusers import HeliosPipeline

    return reference_frames(HeliosPipeline.from_pretrained(folder), shot, **kwargs)


def test_frame_rule_is_what_the_pipeline_makes():
    assert [FRAME_RULE.frames_of(k) for k in range(1, 9)] == [33, 65, 97, 129, 165, 197, 229, 261]
    assert FRAME_RULE.is_valid(97) and not FRAME_RULE.is_valid(99) and FRAME_RULE.nearest(99) == [97, 129]
    assert FRAME_RULE.nearest(34) == [33, 65] and FRAME_RULE.nearest(9) == [33]


@pytest.mark.parametrize(("guidance", "frames"), [(5.0, 33), (1.0, 33), (5.0, 65)],
                         ids=["cfg", "no-cfg", "two-chunks"])
def test_text_to_video_matches_pipeline(parts, path, guidance, frames):
    shot = SHOT.but(guidance=guidance, frames=frames)
    made = graph_frames(parts, shot, vae=parts[1])
    assert made.shape == (frames, H, W, 3)
    assert_parity(made, reference(path, shot))


def test_image_to_video_matches_pipeline(parts, path):
    image = moving_frames(1)
    made = graph_frames(parts, SHOT, vae=parts[1], image=image)
    assert made.shape == (33, H, W, 3)
    assert_parity(made, reference(path, image=as_pil(image)[0]))


def test_video_to_video_continues_the_video_as_the_pipeline_does(parts, path):
    video = moving_frames(37)  # 33 for one chunk of context (the last 33) plus its first frame
    made = graph_frames(parts, SHOT, vae=parts[1], video=video)
    assert made.shape == (33, H, W, 3)
    assert_parity(made, reference(path, video=as_pil(video)))


def refused(input_name: str, match: str, call) -> str:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == "DVSampler" and info.value.input_name == input_name
    assert f"DVSampler: input '{input_name}'" in str(info.value)
    return str(info.value)


def test_bad_inputs_name_node_input_and_what_is_valid(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": 33, "num_inference_steps": STEPS, "guidance_scale": 5.0,
                "seed": SEED, "conditioning": cond, "vae": vae} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("num_frames", "cannot produce 99 frames.*chunks of 33.*nearest: 97 or 129", sampler(num_frames=99))
    refused("num_frames", "cannot produce 9 frames.*nearest: 33", sampler(num_frames=9))
    refused("width", "not divisible by 16.*nearest: 16 or 32", sampler(width=24))
    refused("height", "not divisible by 16", sampler(height=40))
    refused("vae", "decodes each chunk.*same folder", sampler(vae=None))
    refused("video", "20 frames wired in.*at least 33", sampler(video=moving_frames(20)))
    refused("video", "both an image and a video", sampler(video=moving_frames(33), image=moving_frames(1)))
    refused("conditioning", "nothing is wired in", sampler(conditioning=None))


def test_other_familys_vae_is_refused(parts):
    model, _, text_encoder, _ = parts
    _, cog_vae, _, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)
    refused("vae", "CogVideoX VAE.*same Helios folder",
            lambda: DVSampler().sample(model, W, H, 33, 2, 5.0, 0, conditioning=cond, vae=cog_vae))
