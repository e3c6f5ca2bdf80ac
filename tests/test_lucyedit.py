"""Lucy Edit video editing: the node graph against LucyEditPipeline on a tiny offline model (the Wan2.2 TI2V-5B
layout the released Lucy-Edit-Dev has), the video given to both as the PIL frames the guide loads."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT = "change the red panda's coat to a clown costume"
NEGATIVE = "blurry"
W, H, F, STEPS, SEED = 64, 32, 9, 3, 17
SHOT = Shot(W, H, F, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)

path, parts = tiny_model_fixtures("lucyedit")


def input_video(count: int = F, height: int = H, width: int = W) -> torch.Tensor:
    """A moving gradient as an IMAGE batch [F, H, W, 3] at 8-bit values, as loaded from a file."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    frames = [torch.stack([(x + t / count) % 1 * torch.ones_like(y), y * torch.ones_like(x), (x * y + t / 7) % 1], -1)
              for t in range(count)]
    return (torch.stack(frames).float() * 255).round() / 255


def reference(folder: str, video: torch.Tensor, shot: Shot = SHOT) -> torch.Tensor:
    """LucyEditPipeline as its example calls it: the first num_frames frames of the video as PIL images."""
    from diffusers import LucyEditPipeline

    pipe = LucyEditPipeline.from_pretrained(folder)
    return reference_frames(pipe, shot, video=as_pil(video[: shot.frames]))


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_video_edit_matches_pipeline(parts, path, guidance):
    shot = SHOT.but(guidance=guidance)
    video = input_video()
    frames = graph_frames(parts, shot, vae=parts[1], video=video)
    assert frames.shape == (F, H, W, 3)
    assert_parity(frames, reference(path, video, shot))


def test_longer_video_is_cut_to_num_frames_and_resized(parts, path):
    """13 frames at twice the size wired in, num_frames 9: the first 9, resized as the pipeline resizes PIL."""
    video = input_video(13, H * 2, W * 2)
    frames = graph_frames(parts, SHOT, vae=parts[1], video=video)
    assert_parity(frames, reference(path, video))
    assert (frames - graph_frames(parts, SHOT, vae=parts[1], video=input_video(13, H * 2, W * 2).flip(0))
            ).abs().max().item() > 1e-3  # the input video steers the edit


def test_folder_with_expand_timesteps_matches_pipeline(path, tiny_models_dir):
    """A folder whose model_index.json sets expand_timesteps (Wan2.2 TI2V-5B's per-token timesteps, which
    LucyEditPipeline takes as config): it reaches the pipeline the graph runs, as from_pretrained passes it."""
    import json
    import os
    import shutil

    folder = os.path.join(tiny_models_dir, "diffusers", "tiny-lucyedit-expand")
    if not os.path.isdir(folder):
        shutil.copytree(path, folder)
        index = os.path.join(folder, "model_index.json")
        with open(index, encoding="utf-8") as f:
            config = json.load(f)
        with open(index, "w", encoding="utf-8") as f:
            json.dump({**config, "expand_timesteps": True}, f)
    expand = load_parts("tiny-lucyedit-expand")
    assert expand[0].pipeline_config.get("expand_timesteps") is True
    video = input_video()
    frames = graph_frames(expand, SHOT, vae=expand[1], video=video)
    assert_parity(frames, reference(folder, video))


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
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 5.0,
                "seed": SEED, "conditioning": cond, "vae": vae, "video": input_video()} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("num_frames", "cannot produce 8 frames.*nearest: 5 or 9", sampler(num_frames=8))
    refused("width", "not divisible by 32.*nearest: 32 or 64", sampler(width=48))
    refused("height", "not divisible by 32", sampler(height=40))
    refused("video", "none is wired in.*DVLoadVideo", sampler(video=None))
    refused("video", "5 frames wired in, fewer than num_frames 9.*num_frames at most 5", sampler(video=input_video(5)))
    refused("vae", "encodes the input video with its VAE.*same folder", sampler(vae=None))
    refused("image", "takes no image.*wire the video", sampler(image=input_video(1)))
    refused("conditioning", "nothing is wired in", sampler(conditioning=None))


def test_other_familys_vae_and_conditioning_are_refused(parts):
    model, _, text_encoder, _ = parts
    _, cog_vae, cog_text_encoder, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)
    base = {"width": W, "height": H, "num_frames": F, "num_inference_steps": 2, "guidance_scale": 5.0, "seed": 0,
            "video": input_video()}
    refused("conditioning", "CogVideoX text encoder",
            lambda: DVSampler().sample(model, conditioning=cog_cond, vae=parts[1], **base))
    refused("vae", "CogVideoX VAE.*same Lucy Edit folder",
            lambda: DVSampler().sample(model, conditioning=cond, vae=cog_vae, **base))
