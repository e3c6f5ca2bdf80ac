"""Tiny LoRAs for a tiny model, written as diffusers' own save_lora_weights writes them."""

from __future__ import annotations

import os


def build_lora(model_folder: str, dest_file: str, seed: int = 0, rank: int = 4,
               subfolder: str = "transformer") -> str:
    """A random (non-zero) LoRA on the attention projections of the folder's DiT or UNet, saved as one
    .safetensors file in the format the family's pipeline writes (and reads back with load_lora_weights)."""
    import diffusers
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from ..model_loaders.loading import read_json

    config = read_json(os.path.join(model_folder, subfolder, "config.json"))
    pipeline_cls = getattr(diffusers, read_json(os.path.join(model_folder, "model_index.json"))["_class_name"])
    module = getattr(diffusers, config["_class_name"]).from_pretrained(model_folder, subfolder=subfolder)
    torch.manual_seed(seed)
    # init_lora_weights=False: random A and B, so the LoRA changes the output (the default B is zero).
    module.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                  target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = get_peft_model_state_dict(module)
    os.makedirs(os.path.dirname(dest_file), exist_ok=True)
    # A Wan2.2 low-noise expert's LoRA is saved as a transformer LoRA, as they ship (diffusers loads it into
    # transformer_2 with load_into_transformer_2=True).
    component = "transformer" if subfolder == "transformer_2" else subfolder
    pipeline_cls.save_lora_weights(os.path.dirname(dest_file), weight_name=os.path.basename(dest_file),
                                   **{f"{component}_lora_layers": layers})
    return dest_file
