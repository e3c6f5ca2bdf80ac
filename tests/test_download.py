"""DVDownloadModel against a fake Hugging Face Hub on 127.0.0.1: nothing here reaches another host.

The fake serves the few endpoints huggingface_hub uses for a download (the model info with file sizes, and
HEAD/GET of /{repo}/resolve/{revision}/{path} with the commit, ETag and length headers, Range on GET) and
records every request, so the tests see what was fetched and what was not.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import threading
from urllib.parse import unquote, urlsplit

import pytest
from diffusers_video.errors import DVInputError
from diffusers_video.model_loaders import download
from diffusers_video.nodes.download import DVDownloadModel
from diffusers_video.tiny_models.cache import tiny_model_path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_dvtest_not_a_real_token"
CUT_FILE = "vae/diffusion_pytorch_model.safetensors"


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.cut: set[str] = set()  # files whose next GET stops after half the bytes, and that fail after
        self._was_cut: set[str] = set()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.serve(self, head=True)

            def do_GET(self) -> None:
                hub.serve(self, head=False)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def gets(self, path: str) -> int:
        return sum(1 for method, url, _ in self.requests if method == "GET" and url.endswith("/" + path))

    @staticmethod
    def _send(handler, status: int, headers: dict[str, str], body: bytes = b"", head: bool = False) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def serve(self, handler, head: bool) -> None:
        path = unquote(urlsplit(handler.path).path).lstrip("/")
        self.requests.append((handler.command, path, {k.lower(): v for k, v in handler.headers.items()}))
        if path.startswith("api/models/"):
            owner, name, _revision, _rev = path[len("api/models/"):].split("/", 3)
            return self._model_info(handler, f"{owner}/{name}")
        parts = path.split("/", 4)
        if len(parts) < 5 or parts[2] != "resolve":  # anything else huggingface_hub may ask for
            return self._send(handler, 404, {}, b"{}", head)
        owner, name, _resolve, _rev, file = parts
        repo = self.repos.get(f"{owner}/{name}")
        if repo is None:
            return self._send(handler, 404, {"X-Error-Code": "RepoNotFound"}, b"{}", head)
        if file not in repo:
            return self._send(handler, 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, b"{}", head)
        body = repo[file]
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                   "Accept-Ranges": "bytes"}
        if head:
            return self._send(handler, 200, {**headers, "Content-Length": str(len(body))}, body, head=True)
        if file in self._was_cut:  # the network stays down for this file until healed
            return self._send(handler, 503, {}, b"down")
        if file in self.cut:
            self._was_cut.add(file)
            handler.send_response(200)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return None
        start = 0
        ranged = handler.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[len("bytes="):].split("-")[0])
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        return self._send(handler, 206 if start else 200, headers, body[start:])

    def heal(self) -> None:
        self.cut.clear()
        self._was_cut.clear()

    def _model_info(self, handler, repo_id: str) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._send(handler, 404, {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"},
                              b'{"error": "Repository not found"}')
        siblings = [{"rfilename": path, "size": len(body), "blobId": hashlib.sha1(body).hexdigest()}
                    for path, body in sorted(repo.items())]
        body = json.dumps({"id": repo_id, "sha": COMMIT, "private": False, "siblings": siblings}).encode()
        return self._send(handler, 200, {"Content-Type": "application/json"}, body)


def folder_files(path: str) -> dict[str, bytes]:
    files = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path).replace(os.sep, "/")] = f.read()
    return files


# Files a real repo carries beside the pipeline's own, none of which should be fetched.
EXTRAS = {
    "README.md": b"# tiny",
    ".gitattributes": b"*.safetensors filter=lfs",
    "pipeline.py": b"raise SystemExit('remote code ran')",
    "transformer/diffusion_pytorch_model.fp16.safetensors": b"variant weights",
    "transformer/diffusion_pytorch_model.bin": b"pickle weights",
    "text_encoder/flax_model.msgpack": b"flax",
    "vae/onnx/model.onnx": b"onnx",
    "unused_folder/diffusion_pytorch_model.safetensors": b"not named by model_index.json",
}


@pytest.fixture(scope="module")
def tiny_repo() -> dict[str, bytes]:
    return folder_files(tiny_model_path("cogvideox"))


@pytest.fixture
def hub(tmp_path, monkeypatch, tiny_repo):
    from huggingface_hub import constants

    fake = FakeHub()
    fake.repos["tiny/cogvideox"] = {**tiny_repo, **EXTRAS}
    # huggingface_hub reads HF_ENDPOINT, HF_HOME and the offline switch once, at import: set the constants too.
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "ENDPOINT", fake.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "hf" / ".agent_harnesses.json"))
    monkeypatch.setenv("DV_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv(download.ENABLE_SETTING, "1")
    monkeypatch.delenv(download.MAX_GB_SETTING, raising=False)
    monkeypatch.delenv(download.ALLOW_SETTING, raising=False)
    os.makedirs(tmp_path / "models" / "diffusers")
    yield fake
    fake.close()


def diffusers_dir(tmp_path) -> str:
    return str(tmp_path / "models" / "diffusers")


def run_node(**inputs) -> str:
    return DVDownloadModel().download(**inputs)[0]


def refused(input_name: str, **inputs) -> str:
    with pytest.raises(DVInputError) as caught:
        run_node(**inputs)
    text = str(caught.value)
    assert f"DVDownloadModel: input '{input_name}'" in text, text
    return text


def test_download_gives_a_folder_the_pipeline_loader_loads(hub, tmp_path, tiny_repo, monkeypatch):
    from diffusers_video import host
    from diffusers_video.model_loaders import loading
    from diffusers_video.nodes.loaders import DVPipelineLoader

    bars = []

    class RecordingProgress(host.Progress):
        def __init__(self, total, desc=""):
            super().__init__(total, desc)
            bars.append(self)

    monkeypatch.setattr(download.host, "Progress", RecordingProgress)
    assert run_node(repo_id="tiny/cogvideox") == "cogvideox"
    assert [(bar.total, bar.current) for bar in bars] == [(len(tiny_repo), len(tiny_repo))]  # one step per file
    assert os.listdir(diffusers_dir(tmp_path)) == ["cogvideox"]  # no staging folder left beside it
    got = folder_files(os.path.join(diffusers_dir(tmp_path), "cogvideox"))
    assert {path: got[path] for path in tiny_repo} == tiny_repo
    assert set(got) == set(tiny_repo) | {download.MARKER}  # nothing of EXTRAS came
    for path in EXTRAS:
        assert hub.gets(path) == 0, path
    # HF_TOKEN reaches the Hub through huggingface_hub
    model_requests = [headers for _, path, headers in hub.requests if "cogvideox" in path]
    assert model_requests and all(h.get("authorization") == f"Bearer {TOKEN}" for h in model_requests)

    assert "cogvideox" in loading.list_pipeline_folders()
    model, vae, text_encoder, scheduler = DVPipelineLoader().load("cogvideox", "fp32")
    assert model.family.id == "cogvideox" and vae is not None and text_encoder is not None

    # Queued again: the finished folder is reused without touching the Hub.
    before = len(hub.requests)
    assert run_node(repo_id="tiny/cogvideox") == "cogvideox"
    assert len(hub.requests) == before
    # Another repo under that name is refused.
    hub.repos["other/cogvideox"] = dict(tiny_repo)
    assert "already exists" in refused("name", repo_id="other/cogvideox")


def test_only_the_pipeline_files_come_and_a_variant_only_when_asked():
    tf, te = "transformer/", "text_encoder/"
    listing = {"model_index.json": 1, "scheduler/scheduler_config.json": 1, tf + "config.json": 2,
               tf + "diffusion_pytorch_model.safetensors": 100, tf + "diffusion_pytorch_model.fp16.safetensors": 50,
               tf + "diffusion_pytorch_model.bin": 100, te + "config.json": 2,
               te + "model.safetensors.index.fp16.json": 1, te + "model.fp16-00001-of-00002.safetensors": 20,
               te + "model.fp16-00002-of-00002.safetensors": 20, te + "pytorch_model.bin": 80}
    index = {"_class_name": "CogVideoXPipeline", "transformer": ["diffusers", "X"],
             "text_encoder": ["transformers", "Y"], "scheduler": ["diffusers", "Z"], "safety_checker": [None, None]}
    plain = {item.repo_path: item.local_path for item in download.plan_files(listing, index, None)}
    assert plain == {
        "model_index.json": "model_index.json",
        "scheduler/scheduler_config.json": "scheduler/scheduler_config.json",
        tf + "config.json": tf + "config.json",
        tf + "diffusion_pytorch_model.safetensors": tf + "diffusion_pytorch_model.safetensors",
        te + "config.json": te + "config.json",
        # no plain safetensors: its only variant, under the plain names from_pretrained reads
        te + "model.safetensors.index.fp16.json": te + "model.safetensors.index.json",
        te + "model.fp16-00001-of-00002.safetensors": te + "model-00001-of-00002.safetensors",
        te + "model.fp16-00002-of-00002.safetensors": te + "model-00002-of-00002.safetensors",
    }
    fp16 = {item.repo_path: item.local_path for item in download.plan_files(listing, index, "fp16")}
    assert fp16[tf + "diffusion_pytorch_model.fp16.safetensors"] == tf + "diffusion_pytorch_model.safetensors"
    assert tf + "diffusion_pytorch_model.safetensors" not in fp16


def test_downloads_are_off_unless_enabled(hub, monkeypatch):
    monkeypatch.delenv(download.ENABLE_SETTING)
    assert download.ENABLE_SETTING in refused("repo_id", repo_id="tiny/cogvideox")
    assert hub.requests == []


def test_repo_outside_the_allow_pattern_is_refused(hub, monkeypatch):
    monkeypatch.setenv(download.ALLOW_SETTING, "THUDM/*, Wan-AI/*")
    assert download.ALLOW_SETTING in refused("repo_id", repo_id="tiny/cogvideox")
    assert hub.requests == []


@pytest.mark.parametrize(("inputs", "input_name"), [
    ({"repo_id": "cogvideox"}, "repo_id"),
    ({"repo_id": "../../etc/passwd"}, "repo_id"),
    ({"repo_id": "tiny/cogvideox", "name": "../escape"}, "name"),
    ({"repo_id": "tiny/cogvideox", "name": "sub/dir"}, "name"),
    ({"repo_id": "tiny/cogvideox", "name": ".."}, "name"),
])
def test_bad_repo_ids_and_names_are_refused(hub, inputs, input_name):
    refused(input_name, **inputs)
    assert hub.requests == []


def test_over_the_size_cap_is_refused_before_any_weights(hub, monkeypatch, tmp_path):
    monkeypatch.setenv(download.MAX_GB_SETTING, "0.0001")  # 100 kB; the tiny model is about 440 kB
    assert download.MAX_GB_SETTING in refused("repo_id", repo_id="tiny/cogvideox")
    assert not [p for m, p, _ in hub.requests if m == "GET" and p.endswith(".safetensors")]
    assert os.listdir(diffusers_dir(tmp_path)) == []


def test_repo_that_does_not_exist_is_refused(hub, tmp_path):
    assert "not found" in refused("repo_id", repo_id="nobody/no-such-model")
    assert os.listdir(diffusers_dir(tmp_path)) == []


@pytest.mark.parametrize("where", ["model_index.json", "text_encoder/config.json", "class"])
def test_repo_that_needs_remote_code_is_refused(hub, tmp_path, tiny_repo, where):
    files = dict(tiny_repo)
    if where == "class":
        index = json.loads(files["model_index.json"])
        index["transformer"] = ["my_package", "MyTransformer"]
        files["model_index.json"] = json.dumps(index).encode()
    else:
        config = json.loads(files[where])
        config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
        files[where] = json.dumps(config).encode()
    hub.repos["someone/custom"] = files
    assert "remote code" in refused("repo_id", repo_id="someone/custom")
    assert not [p for m, p, _ in hub.requests if m == "GET" and p.endswith(".safetensors")]
    assert os.listdir(diffusers_dir(tmp_path)) == []


def test_cut_off_download_leaves_no_folder_and_resumes(hub, tmp_path):
    hub.cut.add(CUT_FILE)
    text = refused("repo_id", repo_id="tiny/cogvideox")
    assert CUT_FILE in text and "failed" in text
    assert os.listdir(diffusers_dir(tmp_path)) == []  # not even the staging folder
    fetched_before = hub.gets("transformer/diffusion_pytorch_model.safetensors")
    assert fetched_before == 1

    hub.heal()
    assert run_node(repo_id="tiny/cogvideox", name="again") == "again"
    assert os.listdir(diffusers_dir(tmp_path)) == ["again"]
    # Finished files came from the Hugging Face cache; only the rest was fetched.
    assert hub.gets("transformer/diffusion_pytorch_model.safetensors") == fetched_before
    assert TOKEN not in text


def test_loaders_never_download(hub):
    from diffusers_video.nodes.loaders import DVPipelineLoader

    with pytest.raises(DVInputError):
        DVPipelineLoader().load("tiny/cogvideox", "fp32")
    assert hub.requests == []


def test_staging_of_a_killed_run_is_replaced(hub, tmp_path):
    stale = os.path.join(diffusers_dir(tmp_path), download.STAGING_PREFIX + "cogvideox")
    os.makedirs(os.path.join(stale, "junk"))
    assert run_node(repo_id="tiny/cogvideox") == "cogvideox"
    assert os.listdir(diffusers_dir(tmp_path)) == ["cogvideox"]
    assert not os.path.exists(os.path.join(diffusers_dir(tmp_path), "cogvideox", "junk"))
    shutil.rmtree(os.path.join(diffusers_dir(tmp_path), "cogvideox"))
