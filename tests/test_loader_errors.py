"""Broken model folders and files answered in DV words (issue 12): which file, what is wrong, what to do.

Each case copies a tiny model (a real copy, never the shared cache) into the session's models folder under
its own name and damages one file."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.model_loaders import file_checks
from diffusers_video.nodes import NODE_CLASS_MAPPINGS
from diffusers_video.tiny_models.cache import tiny_model_path


def broken_copy(models_dir: str, name: str, damage) -> str:
    """A real copy of the tiny CogVideoX (install_into_models_dir makes a symlink to the shared cache, which
    damage must never reach), damaged."""
    folder = os.path.join(models_dir, "diffusers", name)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(tiny_model_path("cogvideox"), folder)
    assert not os.path.islink(folder)
    damage(folder)
    return name


def load_error(node_id: str, *args) -> DVInputError:
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        getattr(NODE_CLASS_MAPPINGS[node_id](), NODE_CLASS_MAPPINGS[node_id].FUNCTION)(*args)
    return info.value


def assert_names(error: DVInputError, node_id: str, input_name: str, file: str, *words: str) -> None:
    message = str(error)
    assert message.startswith(f"{node_id}: input '{input_name}':"), message
    assert f"'{file}" in message and error.valid and file.split("/")[0] in error.valid, message
    for word in words:
        assert word in message, message
    assert "\x1b[" not in message and "/tmp" not in message, message  # no colour codes, no server paths


def truncate(relative: str, keep: int | None = None, cut: int = 100):
    def damage(folder):
        path = os.path.join(folder, relative)
        os.truncate(path, keep if keep is not None else os.path.getsize(path) - cut)
    return damage


def test_truncated_safetensors_says_expected_and_found_bytes(tiny_models_dir):
    weights = "transformer/diffusion_pytorch_model.safetensors"
    name = broken_copy(tiny_models_dir, "broken-truncated", truncate(weights))
    size = os.path.getsize(os.path.join(tiny_models_dir, "diffusers", name, weights))
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/{weights}", "truncated",
                 f"expected {size + 100} bytes, found {size}")
    assert error.valid == f"re-download {name}/{weights}."


def test_truncated_header_of_a_text_encoder(tiny_models_dir):
    name = broken_copy(tiny_models_dir, "broken-header", truncate("text_encoder/model.safetensors", keep=20))
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/text_encoder/model.safetensors", "truncated",
                 "the file has 20")


def append(relative: str, text: str):
    def damage(folder):
        with open(os.path.join(folder, relative), "a", encoding="utf-8") as f:
            f.write(text)
    return damage


def test_invalid_model_index_json_names_the_file_and_position(tiny_models_dir):
    name = broken_copy(tiny_models_dir, "broken-index", append("model_index.json", "}"))
    lines = open(os.path.join(tiny_models_dir, "diffusers", name, "model_index.json")).read().count("\n")
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/model_index.json", "not valid JSON",
                 f"line {lines + 1}, column")


def test_invalid_component_config_json_names_the_file_and_position(tiny_models_dir):
    def damage(folder):
        with open(os.path.join(folder, "transformer", "config.json"), "w", encoding="utf-8") as f:
            f.write('{"_class_name": "CogVideoXTransformer3DModel",,}')
    name = broken_copy(tiny_models_dir, "broken-config", damage)
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/transformer/config.json", "not valid JSON",
                 "line 1, column 47")
    # DVModelLoader reads the same config itself first
    error = load_error("DVModelLoader", f"{name}/transformer", "fp32")
    assert_names(error, "DVModelLoader", "model", "transformer/config.json", "not valid JSON")


def test_config_with_a_value_the_class_cannot_take(tiny_models_dir):
    def damage(folder):
        config_path = os.path.join(folder, "transformer", "config.json")
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        config["num_layers"] = "many"
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f)
    name = broken_copy(tiny_models_dir, "broken-config-value", damage)
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/transformer/config.json", "can be built")


def remove(relative: str):
    return lambda folder: os.remove(os.path.join(folder, relative))


def test_missing_weights_file(tiny_models_dir):
    name = broken_copy(tiny_models_dir, "broken-missing", remove("transformer/diffusion_pytorch_model.safetensors"))
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/transformer", "has no weights file",
                 "diffusion_pytorch_model.safetensors")
    assert f"re-download {name}/transformer/diffusion_pytorch_model.safetensors" in error.valid


def test_missing_text_encoder_weights_name_the_transformers_file(tiny_models_dir):
    name = broken_copy(tiny_models_dir, "broken-missing-te", remove("text_encoder/model.safetensors"))
    error = load_error("DVTextEncoderLoader", f"{name}/text_encoder", "fp32")
    assert_names(error, "DVTextEncoderLoader", "text_encoder", f"{name}/text_encoder", "has no weights file",
                 "model.safetensors")


class NotATensor:
    pass


def test_pickle_weights_with_objects_are_refused_in_one_sentence(tiny_models_dir):
    from safetensors.torch import load_file

    def damage(folder):
        weights = os.path.join(folder, "transformer", "diffusion_pytorch_model.safetensors")
        state = load_file(weights)
        state["extra"] = NotATensor()  # what weights_only loading refuses (torch's text has colour codes)
        torch.save(state, os.path.join(folder, "transformer", "diffusion_pytorch_model.bin"))
        os.remove(weights)
    name = broken_copy(tiny_models_dir, "broken-pickle", damage)
    error = load_error("DVPipelineLoader", name, "fp32")
    assert_names(error, "DVPipelineLoader", "model", f"{name}/transformer/diffusion_pytorch_model.bin",
                 "is a pickle file", "could run code")
    assert ".safetensors" in error.valid
    assert "Weights only load failed" not in str(error)


def test_truncated_single_file(tiny_models_dir):
    from safetensors.torch import save_file

    path = os.path.join(tiny_models_dir, "diffusion_models", "cut-short.safetensors")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({"some.layer.weight": torch.zeros(8, 8)}, path)
    size = os.path.getsize(path)
    os.truncate(path, size - 10)
    error = load_error("DVModelLoader", "cut-short.safetensors", "fp32")
    assert_names(error, "DVModelLoader", "model", "cut-short.safetensors", "truncated",
                 f"expected {size} bytes, found {size - 10}")


def test_helpers_strip_colour_codes_and_read_headers(tmp_path):
    assert file_checks.plain("\x1b[1mdo this\x1b[0m  only\nif trusted") == "do this only if trusted"
    whole = tmp_path / "w.safetensors"
    header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    whole.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    assert file_checks.safetensors_problem(str(whole)) is None
    whole.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 12)
    assert "longer than its header says" in file_checks.safetensors_problem(str(whole))
