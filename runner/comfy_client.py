"""Talking to a real ComfyUI server over its HTTP API (standard library only), and starting one.

This is how `dv-run --server/--comfyui` runs a workflow through ComfyUI's own executor, and how the
live-host tests drive the real thing. Only loopback addresses are used when a server is started here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any


class ComfyError(RuntimeError):
    pass


def _request(base_url: str, path: str, payload: Any = None, timeout: float = 30) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def object_info(base_url: str) -> dict[str, Any]:
    return _request(base_url, "/object_info")


def post_prompt(base_url: str, prompt: dict, workflow: dict | None = None, client_id: str | None = None) -> str:
    """Queue a prompt; ComfyUI's node_errors become a ComfyError with their messages."""
    payload = {"prompt": prompt, "client_id": client_id or uuid.uuid4().hex,
               "extra_data": {"extra_pnginfo": {"workflow": workflow}} if workflow else {}}
    try:
        return _request(base_url, "/prompt", payload)["prompt_id"]
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        try:
            details = json.loads(body)
        except ValueError:
            details = {"error": body}
        raise ComfyError(format_prompt_error(details)) from error


def format_prompt_error(details: dict) -> str:
    lines = [details.get("error", {}).get("message", "invalid prompt")
             if isinstance(details.get("error"), dict) else str(details.get("error"))]
    for node_id, info in details.get("node_errors", {}).items():
        for err in info.get("errors", []):
            lines.append(f"node {node_id} ({info.get('class_type')}): {err.get('message')}: {err.get('details')}")
    return "\n".join(lines)


def wait(base_url: str, prompt_id: str, timeout: float = 600, poll: float = 0.5,
         on_progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """The /history entry of a finished prompt; ComfyError with the node's message if it failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = _request(base_url, f"/history/{prompt_id}")
        entry = history.get(prompt_id)
        if entry:
            status = entry.get("status", {})
            if status.get("status_str") == "error":
                raise ComfyError(execution_error(status))
            if status.get("completed"):
                return entry
        if on_progress:
            on_progress(_request(base_url, "/queue"))
        time.sleep(poll)
    raise ComfyError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")


def execution_error(status: dict) -> str:
    for kind, data in status.get("messages", []):
        if kind == "execution_error":
            return f"{data.get('exception_message', '').strip()} (node {data.get('node_id')}, {data.get('node_type')})"
    return "the prompt failed"


def download(base_url: str, file_info: dict, dest_dir: str) -> str:
    query = urllib.parse.urlencode({k: file_info.get(k, "") for k in ("filename", "subfolder", "type")})
    os.makedirs(dest_dir, exist_ok=True)
    path = os.path.join(dest_dir, os.path.basename(file_info["filename"]))
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/view?{query}", timeout=60) as response, \
            open(path, "wb") as out:
        out.write(response.read())
    return path


def free(base_url: str, unload_models: bool = True) -> None:
    _request(base_url, "/free", {"unload_models": unload_models, "free_memory": unload_models})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(comfyui_path: str, port: int = 0, extra_args: list[str] | None = None,
                 python: str | None = None, log_path: str | None = None,
                 timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """Start ComfyUI on 127.0.0.1 (CPU) and wait until it answers; the log tail is in the error otherwise."""
    port = port or free_port()
    command = [python or sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(port), "--cpu",
               "--disable-auto-launch", *(extra_args or [])]
    log = open(log_path or os.devnull, "wb")
    process = subprocess.Popen(command, cwd=comfyui_path, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = open(log_path).read()[-3000:] if log_path else ""
            raise ComfyError(f"ComfyUI exited with code {process.returncode}:\n{tail}")
        try:
            _request(base_url, "/system_stats", timeout=2)
            return process, base_url
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    stop_server(process)
    raise ComfyError(f"ComfyUI did not answer within {timeout:.0f} s")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
