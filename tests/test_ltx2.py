"""LTX-2 text- and image-to-video with sound: the node graph (DVTextEncode -> DVSampler -> DVVAEDecode +
DVAudioDecode) against LTX2Pipeline / LTX2ImageToVideoPipeline on tiny offline models, frames and waveform."""

from __future__ import annotations

import subprocess

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVAudioDecode, DVVAEDecode
from parity import Shot, as_pil, assert_parity, decode, independent, sample_latent, tiny_model_fixtures

PROMPT, NEGATIVE = "a red panda plays guitar in a bamboo forest, birds sing", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 64, 9, 2, 11
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=32)
# Guidance off everywhere, LTX-2.0's original cross-attention modulation: one model pass per step.
PLAIN = {"frame_rate": 25.0, "stg_scale": 0.0, "spatio_temporal_guidance_blocks": "", "modality_scale": 1.0,
         "guidance_rescale": 0.0, "audio_guidance_scale": 1.0, "audio_stg_scale": 0.0, "audio_modality_scale": 1.0,
         "audio_guidance_rescale": 0.0, "use_cross_timestep": False, "image_crf": 0}
MEASURED: dict[str, tuple[float, float]] = {}

path, parts = tiny_model_fixtures("ltx2", "tiny-ltx2")
i2v_path, i2v_parts = tiny_model_fixtures("ltx2_i2v", "tiny-ltx2-i2v")
ltx_path, ltx_parts = tiny_model_fixtures("ltx", "tiny-ltx")  # LTX-Video: video only


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


def options(**values):
    from diffusers_video.nodes import NODE_CLASS_MAPPINGS

    return NODE_CLASS_MAPPINGS["DVLTX2Options"]().build(**{**PLAIN, **values})[0]


@independent
def reference(folder: str, task: str, shot: Shot, image=None, **kwargs):
    """The diffusers pipeline as its guide calls it: (frames [F, H, W, 3] in 0..1, waveform [B, C, S])."""
    from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline

    pipe = (LTX2ImageToVideoPipeline if task == "i2v" else LTX2Pipeline).from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    extra = {"image": image} if image is not None else {}
    out = pipe(prompt=shot.prompt, negative_prompt=shot.negative, width=shot.width, height=shot.height,
               num_frames=shot.frames, num_inference_steps=shot.steps, guidance_scale=shot.guidance,
               max_sequence_length=shot.max_len, generator=torch.Generator("cpu").manual_seed(shot.seed),
               output_type="np", **extra, **kwargs)
    return torch.from_numpy(out.frames[0]), out.audio


def graph(model_parts, shot: Shot, **inputs):
    """(frames, AUDIO) of the node graph, the VAE wired into DVSampler as LTX-2 needs."""
    latent = sample_latent(model_parts, shot, vae=model_parts[1], **inputs)
    with torch.inference_mode():
        audio = DVAudioDecode().decode(model_parts[0], latent)[0]
    return decode(model_parts, latent), audio, latent


def check_parity(name: str, frames, audio: dict, expected_frames, expected_audio, sample_rate: int) -> None:
    frame_diff = assert_parity(frames, expected_frames)
    assert audio["sample_rate"] == sample_rate
    waveform = audio["waveform"]
    assert waveform.dtype == torch.float32 and waveform.ndim == 3 and waveform.shape[1] == 2  # stereo
    assert waveform.shape == expected_audio.shape
    audio_diff = (waveform - expected_audio.float()).abs().max().item()  # sample by sample
    assert audio_diff <= 1e-5, f"audio differs from the pipeline's: max |diff| {audio_diff:.3g}"
    assert waveform.std() > 1e-3, "silent audio would match trivially"
    MEASURED[name] = (frame_diff, audio_diff)
    print(f"LTX-2 {name}: frames max |diff| {frame_diff:.3g}, audio max |diff| {audio_diff:.3g}")


def test_text_to_video_with_sound_matches_pipeline(parts, path):
    """The guide's default guidance stack (CFG, STG, modality guidance, rescale, cross timestep)."""
    frames, audio, latent = graph(parts, SHOT)
    assert frames.shape == (F, H, W, 3)
    assert latent["samples"].shape == (1, 4, 2, 2, 2) and latent["dv_audio_samples"].ndim == 4
    expected_frames, expected_audio = reference(path, "t2v", SHOT)
    check_parity("t2v", frames, audio, expected_frames, expected_audio,
                 parts[0].companions["vocoder"].module.config.output_sampling_rate)


def test_text_to_video_without_guidance_matches_pipeline(parts, path):
    """DVLTX2Options: every guidance off, LTX-2.0's modulation, another frame rate (so another sound length)."""
    shot = SHOT.but(guidance=1.0)
    frames, audio, _ = graph(parts, shot, options=options())
    expected = {key: value for key, value in PLAIN.items() if key != "image_crf"}
    expected["spatio_temporal_guidance_blocks"] = None
    expected_frames, expected_audio = reference(path, "t2v", shot, **expected)
    check_parity("t2v no guidance", frames, audio, expected_frames, expected_audio, 24000)


def test_image_to_video_with_sound_matches_pipeline(i2v_parts, i2v_path):
    """The first frame re-compressed at the Gemma 3 releases' CRF 33, as the pipeline does by default."""
    frames, audio, _ = graph(i2v_parts, SHOT, image=first_frame())
    expected_frames, expected_audio = reference(i2v_path, "i2v", SHOT, image=as_pil(first_frame())[0])
    check_parity("i2v", frames, audio, expected_frames, expected_audio, 24000)
    plain, _, _ = graph(i2v_parts, SHOT, image=first_frame(), options=options(frame_rate=24.0))
    assert (plain - frames).abs().max().item() > 1e-3  # the options reach the run


def test_image_to_video_on_the_text_to_video_folder(parts, path):
    """One DiT does both: an image wired into the text-to-video folder's model runs LTX2ImageToVideoPipeline."""
    shot = SHOT.but(guidance=1.0)
    frames, audio, _ = graph(parts, shot, image=first_frame(), options=options(image_crf=33))
    expected = {key: value for key, value in PLAIN.items()} | {"spatio_temporal_guidance_blocks": None,
                                                                "image_crf": 33}
    expected_frames, expected_audio = reference(path, "i2v", shot, image=as_pil(first_frame())[0], **expected)
    check_parity("i2v on t2v folder", frames, audio, expected_frames, expected_audio, 24000)


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    assert f"{node}: input '{input_name}'" in str(info.value)
    return info.value


def test_bad_inputs_name_node_and_input(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 3.0,
                "seed": SEED, "conditioning": cond, "vae": vae} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("DVSampler", "num_frames", "cannot produce 12 frames.*8k\\+1.*nearest: 9 or 17", sampler(num_frames=12))
    refused("DVSampler", "width", "not divisible by 32.*multiples of 32; nearest: 64 or 96", sampler(width=80))
    refused("DVSampler", "height", "not divisible by 32", sampler(height=48))
    refused("DVSampler", "vae", "latents mean and std.*the VAE from the same LTX-2 folder", sampler(vae=None))
    refused("DVSampler", "video", "takes no video", sampler(video=first_frame()))
    refused("DVSampler", "conditioning", "nothing is wired in", sampler(conditioning=None))
    refused("DVSampler", "num_inference_steps", "shift_terminal=0.1.*2 or more steps", sampler(num_inference_steps=1))
    refused("DVSampler", "options", "no spatio_temporal_guidance_blocks",
            sampler(options=options(stg_scale=1.0, spatio_temporal_guidance_blocks="")))
    refused("DVSampler", "options", "past this transformer's 2 blocks.*from 0 to 1",
            sampler(options=options(stg_scale=1.0, spatio_temporal_guidance_blocks="28")))
    refused("DVSampler", "options", "not a list of block indices",
            sampler(options=options(stg_scale=1.0, spatio_temporal_guidance_blocks="last")))
    refused("DVTextEncode", "prompt", "over the text encoder's 32",
            lambda: DVTextEncode().encode(text_encoder, " ".join(["panda"] * 40), NEGATIVE, 32, False))


def test_audio_asked_of_a_video_only_model(parts, ltx_parts):
    """DVAudioDecode on a family without sound (LTX-Video), or on its LATENT, says LTX-2 makes sound."""
    ltx_model, ltx_vae, ltx_te, _ = ltx_parts
    with torch.inference_mode():
        (ltx_cond,) = DVTextEncode().encode(ltx_te, PROMPT, NEGATIVE, 32, True)
        (ltx_latent,) = DVSampler().sample(ltx_model, 64, 64, 9, 2, 1.0, SEED, conditioning=ltx_cond)
    error = refused("DVAudioDecode", "model", "LTX-Video makes video only.*LTX-2 makes sound",
                    lambda: DVAudioDecode().decode(ltx_model, ltx_latent))
    assert "DVVideoCombine writes the video silent" in str(error)
    refused("DVAudioDecode", "samples", "made by a LTX-Video model, which makes video only.*LTX-2 makes sound",
            lambda: DVAudioDecode().decode(parts[0], ltx_latent))
    refused("DVAudioDecode", "samples", "no audio latents.*straight from DVSampler",
            lambda: DVAudioDecode().decode(parts[0], {"samples": torch.zeros(1, 4, 2, 2, 2), "dv_family": "ltx2"}))
    refused("DVAudioDecode", "samples", "not a LATENT", lambda: DVAudioDecode().decode(parts[0], torch.zeros(1)))


def test_other_familys_parts_are_refused(parts, ltx_parts):
    model, vae, text_encoder, _ = parts
    ltx_model, ltx_vae, ltx_te, _ = ltx_parts
    with torch.inference_mode():
        (ltx_cond,) = DVTextEncode().encode(ltx_te, PROMPT, NEGATIVE, 32, True)
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 32, True)
        (latent,) = DVSampler().sample(model, W, H, F, 2, 1.0, SEED, conditioning=cond, vae=vae,
                                       options=options())
    refused("DVSampler", "conditioning", "LTX-Video text encoder",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 3.0, SEED, conditioning=ltx_cond, vae=vae))
    refused("DVSampler", "vae", "LTX-Video VAE",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 3.0, SEED, conditioning=cond, vae=ltx_vae))
    refused("DVVAEDecode", "vae", "made by a ltx2 model",
            lambda: DVVAEDecode().decode(ltx_vae, latent, 0, "off", 0, 0.0))


def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    import imageio_ffmpeg

    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", *args], capture_output=True, timeout=120)


def test_example_mp4_carries_sound_as_long_as_its_video(tiny_models_dir, tmp_path):
    """The shipped ltx2_text_to_video example on the tiny model: its mp4 has an AAC stream (read back with the
    ffmpeg imageio-ffmpeg ships) that lasts as long as the video, within one video frame."""
    import json
    import os
    import re

    from diffusers_video.runner import cli
    from example_runs import EXAMPLES, tiny_prompt

    prompt, _ = tiny_prompt("ltx2_text_to_video", tiny_models_dir, str(tmp_path / "input"))
    (tmp_path / "prompt.json").write_text(json.dumps(prompt))
    assert cli.main(["run", str(tmp_path / "prompt.json"), "--in-process", "--output-dir", str(tmp_path / "out"),
                     "--models-dir", tiny_models_dir, "--extra-pnginfo",
                     os.path.join(EXAMPLES, "ltx2_text_to_video.json")]) == 0
    (mp4,) = [str(p) for p in (tmp_path / "out").rglob("*.mp4")]
    probe = _ffmpeg("-i", mp4).stderr.decode(errors="replace")
    assert re.search(r"Stream #0:\d.*Audio: aac.*24000 Hz, stereo", probe), probe
    fps = float(prompt["5"]["inputs"]["fps"])
    counted = _ffmpeg("-i", mp4, "-map", "0:v:0", "-f", "null", "-").stderr.decode(errors="replace")
    frames = int(re.findall(r"frame=\s*(\d+)", counted)[-1])
    assert frames == prompt["3"]["inputs"]["num_frames"]
    pcm = _ffmpeg("-i", mp4, "-map", "0:a:0", "-f", "s16le", "-ac", "2", "-ar", "24000", "-").stdout
    audio_seconds, video_seconds = len(pcm) / (2 * 2 * 24000), frames / fps
    print(f"LTX-2 example mp4: video {video_seconds:.4f} s, audio {audio_seconds:.4f} s")
    assert abs(audio_seconds - video_seconds) <= 1 / fps
