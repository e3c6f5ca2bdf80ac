"""Stopping a frame-threaded decode early must not deadlock when PyAV's Python log callback is installed (as
ComfyUI 0.33's server had it: DVLoadVideo with a frame cap hung in avcodec_free_context, holding the GIL)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_frame_cap_with_pyav_logging_on_does_not_hang(tmp_path):
    from diffusers_video.video_io.writer import write_video  # noqa: F401 - the pack's own writer makes the clip

    child = textwrap.dedent("""
        import sys, threading
        import av, av.logging, numpy as np
        av.logging.set_level(av.logging.VERBOSE)  # a Python log callback in FFmpeg's threads
        path = sys.argv[1]
        with av.open(path, "w") as out:  # 48 frames of noise, enough for frame threads to have work in flight
            stream = out.add_stream("libx264", rate=24)
            stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
            for i in range(48):
                frame = av.VideoFrame.from_ndarray(np.random.randint(0, 255, (96, 128, 3), np.uint8), format="rgb24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        from diffusers_video.video_io.reader import load_video

        def loop():
            for _ in range(200):
                load_video(path, frame_cap=1)
            print("done", flush=True)

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        worker.join(120)
    """)
    script = tmp_path / "child.py"
    script.write_text(child)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "clip.mp4")], capture_output=True, text=True,
                          timeout=300)
    assert "done" in done.stdout, (done.returncode, done.stderr[-2000:])
