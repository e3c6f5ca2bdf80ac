"""Wan2.1 (Alibaba): text- and image-to-video with a UMT5 encoder, a flow-matching DiT and a causal 3D VAE
(image-to-video adds a CLIP image encoder and a DiT that also takes the first frame's latents)."""

from ..families import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="wan",
    label="Wan2.1",
    pipeline_classes={"t2v": "WanPipeline", "i2v": "WanImageToVideoPipeline"},
    model_classes=("WanTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.0),
    glue="wan",
    order=20,
    comfy_latent_format="Wan21",
    flow_matching=True,
    defaults={"num_frames": 81, "fps": 16, "steps": 50, "guidance_scale": 5.0, "width": 832, "height": 480,
              "max_sequence_length": 512},
)
