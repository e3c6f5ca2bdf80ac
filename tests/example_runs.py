"""How each shipped example runs on tiny models: shared by the CI test and the live-host test."""

from __future__ import annotations

import json
import os

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example_workflows")

# example -> (tiny model family, DVSampler inputs that make it small enough for a CPU test). Everything else
# in the example runs as shipped. A new example must add a line here (test_examples insists).
TINY_RUNS = {
    "cogvideox_text_to_video": ("cogvideox", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 9}),
    "cogvideox_image_to_video": ("cogvideox_i2v", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                   "num_frames": 9}),
    "cogvideox_video_to_video": ("cogvideox", {"num_inference_steps": 3, "width": 64, "height": 48,
                                               "num_frames": 9}),
    "cogvideox_fun_control": ("cogvideox_fun_control", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                        "num_frames": 9}),
    "wan_image_to_video": ("wan_i2v", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 5}),
    "wan_text_to_video": ("wan", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 9}),
    # A 256-wide tiny Wan (GGUF blocks fill whole rows), its DiT and text encoder written as Q8_0 GGUF files.
    "wan_gguf_text_to_video": ("wan_gguf", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 5}),
    # 4 steps: the tiny schedule crosses boundary_ratio, so both experts run.
    "wan22_text_to_video": ("wan22_a14b", {"num_inference_steps": 4, "width": 32, "height": 32, "num_frames": 9}),
    "wan22_image_to_video": ("wan22_i2v_a14b", {"num_inference_steps": 4, "width": 32, "height": 32,
                                                "num_frames": 5}),
    "wan22_ti2v_5b_text_to_video": ("wan22_ti2v_5b", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                      "num_frames": 9}),
    "wan_vace_control": ("wan_vace", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 9}),
    # 64x48: the size of the image written for LoadImage, whose MASK VACE takes at the video's size.
    "wan_vace_inpaint": ("wan_vace", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 9}),
    "wan_first_last_frame": ("wan_flf2v", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 5}),
    # 3 steps x strength 0.7 runs two.
    "wan_video_to_video": ("wan", {"num_inference_steps": 3, "width": 64, "height": 48, "num_frames": 9}),
    # Two segments of 5 frames (NODE_INPUTS), as the shipped 77 in one; the face video square (NODE_INPUTS).
    "wan_animate": ("wan_animate", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 9}),
    "wan_animate_replace": ("wan_animate", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 9}),
    "ltx_text_to_video": ("ltx", {"num_inference_steps": 2, "width": 64, "height": 32, "num_frames": 9}),
    "ltx_image_to_video": ("ltx", {"num_inference_steps": 2, "width": 64, "height": 32, "num_frames": 9}),
    "ltx_keyframes": ("ltx_095", {"num_inference_steps": 2, "width": 64, "height": 32, "num_frames": 9}),
    # The refine stage's size (twice the first stage's, set in NODE_INPUTS); 3 steps x 0.4 runs one.
    "ltx_two_stage_upsample": ("ltx_095", {"num_inference_steps": 3, "width": 128, "height": 64, "num_frames": 9}),
    # 17 frames at 24 fps: long enough that the sound (whole latent steps of 40 ms) ends within a frame of the video.
    "ltx2_text_to_video": ("ltx2", {"num_inference_steps": 2, "width": 64, "height": 64, "num_frames": 17}),
    "ltx2_image_to_video": ("ltx2_i2v", {"num_inference_steps": 2, "width": 64, "height": 64, "num_frames": 17}),
    "ltx2_condition": ("ltx2", {"num_inference_steps": 2, "width": 64, "height": 64, "num_frames": 17}),
    # The refine stage's size (twice the first stage's, set in NODE_INPUTS); 3 steps x 0.4 runs one.
    "ltx2_two_stage": ("ltx2", {"num_inference_steps": 3, "width": 128, "height": 128, "num_frames": 9}),
    "sana_video_text_to_video": ("sana_video", {"num_inference_steps": 2, "width": 64, "height": 32,
                                                "num_frames": 9}),
    "sana_video_image_to_video": ("sana_video_i2v", {"num_inference_steps": 2, "width": 64, "height": 32,
                                                     "num_frames": 9}),
    "kandinsky5_text_to_video": ("kandinsky5", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                "num_frames": 9}),
    # 17 frames: the least image-to-video takes (5 latent frames).
    "kandinsky5_image_to_video": ("kandinsky5_i2v", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                     "num_frames": 17}),
    "mochi_text_to_video": ("mochi", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 13}),
    "hunyuanvideo_text_to_video": ("hunyuanvideo", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                   "num_frames": 9}),
    "hunyuanvideo_image_to_video": ("hunyuanvideo_i2v", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                         "num_frames": 9}),
    "skyreels_v1_image_to_video": ("skyreels_v1_i2v", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                       "num_frames": 9}),
    # One section of the example's 9 latent frames (37 video frames: FramePack rounds up to whole sections).
    "hunyuanvideo_framepack": ("hunyuanvideo_framepack", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                          "num_frames": 9}),
    "hunyuanvideo15_text_to_video": ("hunyuanvideo15", {"num_inference_steps": 2, "width": 48, "height": 32,
                                                        "num_frames": 9}),
    "hunyuanvideo15_image_to_video": ("hunyuanvideo15_i2v", {"num_inference_steps": 2, "width": 48, "height": 32,
                                                             "num_frames": 9}),
    "svd_image_to_video": ("svd", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 4}),
    "i2vgenxl_image_to_video": ("i2vgenxl", {"num_inference_steps": 2, "width": 64, "height": 48,
                                             "num_frames": 4}),
    "animatediff_text_to_video": ("sd15", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 4}),
    "animatediff_controlnet": ("sd15", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 4}),
    # The control image LoadImage gets is 64x48: the same aspect, as SparseCtrl needs.
    "animatediff_sparsectrl": ("sd15", {"num_inference_steps": 2, "width": 64, "height": 48, "num_frames": 4}),
    "animatediff_video_to_video": ("sd15", {"num_inference_steps": 3, "width": 32, "height": 32, "num_frames": 4}),
    "animatediff_sdxl": ("sdxl", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 4}),
    # Past the adapter's 32 positions: FreeNoise's windows are what make it possible.
    "animatediff_free_noise": ("sd15", {"num_inference_steps": 1, "width": 16, "height": 16, "num_frames": 36}),
    "modelscope_text_to_video": ("modelscope", {"num_inference_steps": 2, "width": 64, "height": 48,
                                                "num_frames": 4}),
    "controlnet_pose_video": ("sd15", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 4}),
    "controlnet_edge_video": ("sd15", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 4}),
    "pix2pix_video_edit": ("pix2pix", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 4}),
    "lucyedit_video_edit": ("lucyedit", {"num_inference_steps": 2, "width": 64, "height": 32, "num_frames": 9}),
    "chronoedit_image_edit": ("chronoedit", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 5}),
    "helios_text_to_video": ("helios", {"num_inference_steps": 2, "width": 32, "height": 32, "num_frames": 33}),
    "motif_video_text_to_video": ("motif_video", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                  "num_frames": 9}),
    "cosmos2_video_to_world": ("cosmos", {"num_inference_steps": 2, "width": 64, "height": 32, "num_frames": 9}),
    "cosmos25_text_to_world": ("cosmos25", {"num_inference_steps": 2, "width": 64, "height": 32, "num_frames": 9}),
    # One tile of the tiny VAE (128 pixels x 24 frames): Allegro decodes only whole tiles.
    "allegro_text_to_video": ("allegro", {"num_inference_steps": 2, "width": 128, "height": 128, "num_frames": 24}),
    "latte_text_to_video": ("latte", {"num_inference_steps": 2, "width": 48, "height": 32, "num_frames": 16}),
    "easyanimate_text_to_video": ("easyanimate", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                  "num_frames": 5}),
    "easyanimate_control": ("easyanimate_control", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                    "num_frames": 5}),
    "easyanimate_image_to_video": ("easyanimate_inpaint", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                           "num_frames": 5}),
    "skyreels_v2_text_to_video": ("skyreels_v2", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                  "num_frames": 9}),
    # 21 frames in chunks of 13 overlapping by 5 (NODE_INPUTS): two chunks, as the shipped 257 in 97s make three.
    "skyreels_v2_long_video": ("skyreels_v2_df", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                  "num_frames": 21}),
    "skyreels_v2_video_extension": ("skyreels_v2_df", {"num_inference_steps": 2, "width": 32, "height": 32,
                                                       "num_frames": 13}),
}

# example -> {node class or node id: inputs} that a CPU run must change besides the sampler's (a node id where
# one node of a class differs: the first stage of a two-stage graph). The Cosmos example ships with
# the guardrail on (its default); the guardrail's models cannot be downloaded here, so the tiny run turns it off.
NODE_INPUTS = {
    "cosmos2_video_to_world": {"DVCosmosOptions": {"guardrail": "off: I take responsibility for the outputs"}},
    "cosmos25_text_to_world": {"DVCosmosOptions": {"guardrail": "off: I take responsibility for the outputs"}},
    "ltx_keyframes": {"9": {"frame_index": 8}},  # the last keyframe at the tiny run's last frame
    # STG in the tiny transformer's last block (the example's 28 is the released 48-block model's).
    "ltx2_text_to_video": {"DVLTX2Options": {"spatio_temporal_guidance_blocks": "1"}},
    "ltx2_image_to_video": {"DVLTX2Options": {"spatio_temporal_guidance_blocks": "1"}},
    "ltx2_condition": {"DVLTX2Options": {"spatio_temporal_guidance_blocks": "1"}, "9": {"frame_index": 16}},
    "ltx2_two_stage": {"DVLTX2Options": {"spatio_temporal_guidance_blocks": "1"}, "3": {"width": 64, "height": 64}},
    "ltx_two_stage_upsample": {"3": {"width": 64, "height": 32}},
    "skyreels_v2_long_video": {"DVSkyReelsV2Options": {"base_num_frames": 13, "overlap_history": 5}},
    "skyreels_v2_video_extension": {"DVSkyReelsV2Options": {"base_num_frames": 9, "overlap_history": 5}},
    # Square face crops (the loaders otherwise take the sampler's 64x48) and two segments of the 9 frames.
    "wan_animate": {"9": {"width": 32, "height": 32}, "DVWanOptions": {"segment_frame_length": 5}},
    "wan_animate_replace": {"9": {"width": 32, "height": 32}, "DVWanOptions": {"segment_frame_length": 5}},
}


def example_names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(EXAMPLES) if f.endswith(".json"))


def tiny_prompt(name: str, models_dir: str, input_dir: str) -> tuple[dict, dict]:
    """(API prompt, UI workflow) of an example with its tiny model installed and substituted, and the image
    (LoadImage) or a small generated video (DVLoadVideo, as many frames and the size the sampler makes) its
    loaders name written into input_dir."""
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from PIL import Image

    family, sampler_inputs = TINY_RUNS[name]
    install_into_models_dir(models_dir, family, f"tiny-{family}")
    install_into_models_dir(models_dir, "motion_adapter", "tiny-motion-adapter", "animatediff_models")
    install_into_models_dir(models_dir, "motion_adapter_sdxl", "tiny-motion-adapter-sdxl", "animatediff_models")
    with open(os.path.join(EXAMPLES, "api", f"{name}.json"), encoding="utf-8") as f:
        prompt = json.load(f)
    with open(os.path.join(EXAMPLES, f"{name}.json"), encoding="utf-8") as f:
        workflow = json.load(f)
    for node_id, node in prompt.items():
        node["inputs"].update(NODE_INPUTS.get(name, {}).get(node["class_type"], {}))
        if node["class_type"] == "DVPipelineLoader":
            node["inputs"]["model"] = f"tiny-{family}"
        elif node["class_type"] == "DVSampler":
            node["inputs"].update(sampler_inputs)
        elif node["class_type"] == "DVMotionAdapterLoader":
            sdxl = "sdxl" in node["inputs"]["motion_adapter"]
            node["inputs"]["motion_adapter"] = "tiny-motion-adapter-sdxl" if sdxl else "tiny-motion-adapter"
        elif node["class_type"] == "DVControlNetLoader":
            kind = "sparse_controlnet" if "sparsectrl" in node["inputs"]["controlnet"] else "controlnet"
            install_into_models_dir(models_dir, kind, f"tiny-{kind}", "controlnet")
            node["inputs"]["controlnet"] = f"tiny-{kind}"
        elif node["class_type"] in ("DVModelLoader", "DVVAELoader", "DVTextEncoderLoader"):
            component_loader(node, family, models_dir)
        elif node["class_type"] == "DVLTXLatentUpsamplerLoader" and family.startswith("ltx2"):
            install_into_models_dir(models_dir, "ltx2_upsampler", "tiny-ltx2-upsampler", "latent_upscale_models")
            node["inputs"]["latent_upsampler"] = "latent_upscale_models/tiny-ltx2-upsampler"
        elif node["class_type"] == "DVLTXLatentUpsamplerLoader":
            install_into_models_dir(models_dir, "ltx_upsampler", "tiny-ltx-upsampler")
            node["inputs"]["latent_upsampler"] = "diffusers/tiny-ltx-upsampler"
        elif node["class_type"] == "DVLoadVideo":
            node["inputs"].update(frame_load_cap=sampler_inputs["num_frames"], width=sampler_inputs["width"],
                                  height=sampler_inputs["height"])
            write_input_video(os.path.join(input_dir, node["inputs"]["video"]), sampler_inputs["num_frames"] + 2)
        elif node["class_type"] == "LoadImage":
            os.makedirs(input_dir, exist_ok=True)
            picture = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
            if any(v == [node_id, 1] for other in prompt.values() for v in other["inputs"].values()):
                # Its MASK is used: paint one (core's LoadImage gives 1 - alpha, and a 64x64 empty mask for a
                # picture without alpha): the right half transparent, as the mask editor saves a painted area.
                alpha = Image.new("L", picture.size, 255)
                alpha.paste(0, (picture.width // 2, 0, picture.width, picture.height))
                picture.putalpha(alpha)
            picture.save(os.path.join(input_dir, node["inputs"]["image"]))
        node["inputs"].update(NODE_INPUTS.get(name, {}).get(node_id, {}))
    return prompt, workflow


def component_loader(node: dict, family: str, models_dir: str) -> None:
    """A one-component loader pointed at the tiny folder's component, or, for a .gguf, at a tiny Q8_0 GGUF
    written from it (config: the tiny folder)."""
    from diffusers_video.tiny_models import gguf

    key = {"DVModelLoader": "model", "DVVAELoader": "vae", "DVTextEncoderLoader": "text_encoder"}[node["class_type"]]
    inputs, folder = node["inputs"], os.path.join(models_dir, "diffusers", f"tiny-{family}")
    if "config" in inputs:
        inputs["config"] = f"tiny-{family}"
    if not inputs[key].endswith(".gguf"):
        inputs[key] = f"tiny-{family}/{'transformer' if key == 'model' else key}"
        return
    kind = "diffusion_models" if key == "model" else "text_encoders"
    path = os.path.join(models_dir, kind, f"tiny-{family}-{key}-Q8_0.gguf")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        (gguf.write_transformer_gguf if key == "model" else gguf.write_t5_encoder_gguf)(folder, path, "Q8_0")
    inputs[key] = os.path.basename(path)


def write_input_video(path: str, frames: int) -> str:
    """A small moving-shapes mp4 (64x48, 8 fps) for the examples' DVLoadVideo nodes."""
    import torch
    from diffusers_video.video_io.formats import FORMATS
    from diffusers_video.video_io.writer import write_video

    os.makedirs(os.path.dirname(path), exist_ok=True)
    y = torch.linspace(0, 1, 48)[:, None]
    x = torch.linspace(0, 1, 64)[None, :]
    clip = torch.stack([torch.stack([((x * 4 + t / frames) % 1 > 0.5).float() * torch.ones_like(y),
                                     y * torch.ones_like(x), ((y * 3 + x) % 1) * torch.ones_like(x)], -1)
                        for t in range(frames)])
    saved = write_video(clip, os.path.dirname(path), "dv_example_input", FORMATS["video/h264-mp4"], 8.0, 19, 0,
                        False, None, None)
    os.replace(saved.path, path)
    return path
