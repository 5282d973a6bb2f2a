"""`stylize serve`: the HTTP API through FastAPI's TestClient (one app for the module), the same pixels as the
Python API, the video job's frames, cancel and cleanup, every bad request as a 4xx JSON error, the command."""

from __future__ import annotations

import io
import os
import socket
import struct
import sys
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn, python-multipart) is not installed")
with warnings.catch_warnings():  # Starlette's note that its test client will move to httpx2
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from fastapi.testclient import TestClient  # noqa: E402

from pipeline.options import ServeOptions  # noqa: E402
from pipeline.serve.app import STATIC, create_app  # noqa: E402
from tests.helpers import ROOT, STYLE_PATH, psnr, run_cli, save_rgb  # noqa: E402
from tests.videos import make_video, read_video  # noqa: E402

SIZE = 64
CONTENT = ROOT / "samples" / "content" / "coffee.jpg"


@pytest.fixture(scope="module")
def app():
    return create_app(ServeOptions(preview_size=SIZE, device="cpu"), calibrate=False)  # seconds saved; as the API


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


def stylize(client, content=CONTENT, styles=("stained_glass",), **fields):
    files = [("content", (content.name, content.read_bytes()))] if content is not None else []
    data = {"style": list(styles), **{k: str(v) for k, v in fields.items()}}
    return client.post("/api/stylize", files=files, data=data)


def pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def error(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def test_page_and_gallery_are_served_without_any_outside_address(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    for name in ("app.js", "style.css", "index.html"):
        text = (STATIC / name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name
    assert client.get("/static/app.js").status_code == 200
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["device"] == "cpu" and health["max_upload_mb"] == 300
    gallery = client.get("/api/styles").json()
    assert {"stained_glass", "starry_night"} <= {s["name"] for s in gallery["styles"]}
    assert "coffee" in {p["name"] for p in gallery["photos"]}
    style = client.get("/api/styles/starry_night")
    assert Image.open(io.BytesIO(style.content)).size == Image.open(ROOT / "samples/style/starry_night.jpg").size


def test_photo_is_the_python_apis_image_and_alpha_moves_it_towards_the_photo(client):
    from pipeline.api import stylize_image

    half = pixels(stylize(client, alpha=0.5))
    expected = np.asarray(stylize_image(CONTENT, STYLE_PATH, size=SIZE, device="cpu", alpha=0.5, calibrate=False))
    assert np.array_equal(half, expected)  # the same code path: not one pixel differs
    assert max(half.shape[:2]) == SIZE
    photo = np.asarray(Image.open(CONTENT).convert("RGB").resize(half.shape[1::-1], Image.Resampling.BOX))
    full, none = pixels(stylize(client, alpha=1.0)), pixels(stylize(client, alpha=0.0))
    assert psnr(full, photo) < psnr(half, photo) < psnr(none, photo)
    assert len(client.app.server.photos.cache) == 1  # the slider reused the one build


def test_uploaded_styles_mixed_at_full_size_as_jpeg(client, tmp_path):
    own = save_rgb(tmp_path / "own.png", 80, 60, seed=3)
    files = [("content", ("coffee.jpg", CONTENT.read_bytes())), ("style", ("own.png", own.read_bytes()))]
    data = {"style": "starry_night", "style_weights": "0.7,0.3", "keep_size": "true", "format": "jpeg",
            "size": "96"}
    response = client.post("/api/stylize", files=files, data=data)
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == Image.open(CONTENT).size
    assert float(response.headers["x-stylize-seconds"]) > 0
    server = client.app.server
    builds = len(server.photos.cache)
    again = client.post("/api/stylize", files=files, data=data)
    assert again.content == response.content and len(server.photos.cache) == builds  # the upload's build reused
    assert [p.name[0] for p in server.workspace.uploads.iterdir()] == ["s"]  # the style by digest; no photo kept


def bomb_png(path, width: int, height: int):
    """A tiny PNG whose header claims width x height pixels (what a decompression bomb looks like)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # refused all the same
@pytest.mark.parametrize("case, status, words", [
    ("text", 422, "not an image"), ("bomb", 413, "decompression bomb"), ("big", 413, "decompression-bomb"),
    ("no content", 422, "content is missing"), ("no style", 422, "style is missing"),
    ("unknown style", 404, "no gallery style named 'nope'"), ("size", 422, "size must be a whole number in [64, 2048]"),
    ("alpha", 422, "alpha must be a number in [0, 1]"), ("weights", 422, "style_weights: 2 --style-weights given for 1 styles"),
    ("empty", 422, "empty file"), ("colour", 422, "preserve_color must be one of"),
])
def test_bad_photo_requests_get_a_json_error_and_the_server_goes_on(client, tmp_path, case, status, words):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    content = {"text": text, "bomb": bomb_png(tmp_path / "bomb.png", 30000, 30000),
               "big": bomb_png(tmp_path / "big.png", 10000, 10000), "no content": None,
               "empty": tmp_path / "empty.jpg"}.get(case, CONTENT)
    (tmp_path / "empty.jpg").touch()
    fields = {"size": {"size": 5000}, "alpha": {"alpha": "nan"}, "weights": {"style_weights": "1,2"},
              "colour": {"preserve_color": "sepia"}}.get(case, {})
    styles = {"no style": (), "unknown style": ("nope",)}.get(case, ("stained_glass",))
    message = error(stylize(client, content, styles, **fields), status)
    assert words in message
    if case == "text":
        assert message.startswith("content 'notes.txt'")
    assert client.get("/api/health").json()["status"] == "ok"


def test_body_over_the_upload_limit_is_refused_with_or_without_a_length(tmp_path):
    big = os.urandom(200_000)
    with TestClient(create_app(ServeOptions(max_upload_mb=0.1, device="cpu"))) as small:
        said = small.post("/api/stylize", files={"content": ("big.jpg", big)}, data={"style": "starry_night"})
        assert "over the upload limit of 0.1 MB" in error(said, 413)
        streamed = small.post("/api/stylize", content=iter([big[:50_000]] * 4),
                              headers={"content-type": "multipart/form-data; boundary=x"})
        assert "upload limit" in error(streamed, 413)
        assert small.get("/api/health").status_code == 200
        root = small.app.server.workspace.root
    assert not root.exists()  # the server's temporary folder goes with it


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("serve") / "clip.mp4", frames=240, size=(96, 64))  # 10 s


def wait(client, job_id: str, until=("done", "failed", "cancelled"), timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in until:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {job['state']}")


def submit(client, **data):
    files = [("video", ("clip.mp4", data.pop("video").read_bytes()))] if "video" in data else []
    data.setdefault("style", "stained_glass")
    response = client.post("/api/jobs", files=files, data={k: str(v) for k, v in data.items()})
    assert response.status_code == 202, response.text
    return response.json()


def test_clip_preview_then_whole_clip_cancel_and_cleanup(client, clip, tmp_path):
    preview = wait(client, submit(client, video=clip, preview_frames=5, size=SIZE)["id"])
    assert preview["state"] == "done" and preview["frames_total"] == 5
    result = client.get(preview["result"])
    (tmp_path / "preview.mp4").write_bytes(result.content)
    made, source = read_video(tmp_path / "preview.mp4"), read_video(clip)
    assert made["frames"] == 5 and made["size"][0] == SIZE and abs(made["size"][1] - SIZE * 64 / 96) <= 2 and made["pts"] == source["pts"][:5]
    cli = run_cli("video", clip, tmp_path / "cli.mp4", "-s", STYLE_PATH, "--size", SIZE, "--max-frames", 5, "-q")
    assert cli.exit_code == 0, cli.output
    by_cli = read_video(tmp_path / "cli.mp4")
    assert by_cli["size"] == made["size"] and by_cli["audio"] == made["audio"] == "aac"
    assert min(psnr(a, b) for a, b in zip(by_cli["images"], made["images"])) > 40  # the same job; x264 noise
    running = submit(client, clip=preview["clip"], size=SIZE)
    queued = submit(client, clip=preview["clip"], size=SIZE)
    assert client.delete(f"/api/jobs/{queued['id']}").json()["state"] == "cancelled"  # dropped from the queue
    wait(client, running["id"], until=("running",))
    while client.get(f"/api/jobs/{running['id']}").json()["frames_done"] == 0:
        time.sleep(0.01)
    assert client.delete(f"/api/jobs/{running['id']}").json()["state"] in ("cancelling", "cancelled")
    stopped = wait(client, running["id"])
    assert stopped["state"] == "cancelled" and 0 < stopped["frames_done"] < 240
    assert "is cancelled" in error(client.get(f"/api/jobs/{running['id']}/result"), 409)
    server = client.app.server
    assert not (server.workspace.jobs / running["id"]).exists()
    server.jobs.jobs[preview["id"]].ended = 0.0  # long ago
    for upload in server.workspace.uploads.iterdir():
        os.utime(upload, (0, 0))
    server.sweep()
    assert "no job" in error(client.get(f"/api/jobs/{preview['id']}"), 404)
    assert list(server.workspace.uploads.iterdir()) == [] and list(server.workspace.jobs.iterdir()) == []
    assert "no uploaded clip" in error(client.post("/api/jobs", data={"clip": preview["clip"], "style": "starry_night"}), 404)


@pytest.mark.parametrize("field, words", [("text", "not a video file name"), ("garbage", "video 'clip.mp4'"),
                                          ("none", "video is missing"), ("frames", "preview_frames must be")])
def test_bad_clip_requests_get_a_json_error(client, clip, field, words):
    files = {"text": [("video", ("clip.txt", b"hello"))], "garbage": [("video", ("clip.mp4", b"\0" * 4096))],
             "frames": [("video", ("clip.mp4", clip.read_bytes()))]}.get(field, [])
    data = {"style": "starry_night", **({"preview_frames": "-1"} if field == "frames" else {})}
    assert words in error(client.post("/api/jobs", files=files, data=data), 422)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_prints_the_address_warns_off_loopback_and_opens_a_browser(monkeypatch):
    import uvicorn
    import webbrowser

    opened, served = [], []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.append(sockets[0].getsockname()))
    monkeypatch.setattr(webbrowser, "open", opened.append)
    port = free_port()
    result = run_cli("serve", "--host", "0.0.0.0", "--port", port, "--device", "cpu", "--open")
    assert result.exit_code == 0, result.output
    assert f"open http://0.0.0.0:{port}/" in result.output
    assert "warning: listening on 0.0.0.0: anyone" in result.output and served == [("0.0.0.0", port)]
    time.sleep(0.8)
    assert opened == [f"http://0.0.0.0:{port}/"]
    quiet = run_cli("serve", "--port", free_port(), "--device", "cpu")
    assert "warning" not in quiet.output and "open http://127.0.0.1:" in quiet.output


def test_serve_command_refuses_a_busy_port_or_a_bad_limit_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("serve", "--port", busy.getsockname()[1])
    assert result.exit_code == 2 and "error: cannot listen on 127.0.0.1:" in result.output
    limit = run_cli("serve", "--max-upload-mb", "0")
    assert limit.exit_code == 2 and "--max-upload-mb must be a finite number" in limit.output


def test_serve_command_without_the_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "pipeline.serve.launch", raising=False)
    result = run_cli("serve", "--port", free_port())
    assert result.exit_code == 2
    assert "error: stylize serve needs FastAPI, uvicorn and python-multipart (uvicorn is missing): pip install " \
           "'stylize-pipeline[serve]'" in result.output


def test_a_phone_photo_in_heic_is_taken(client, tmp_path):
    """An iPhone's photo uploaded as it is (HEIC: Pillow opens none): its size checked from its boxes, stylized
    upright, as ``stylize folder`` reads it."""
    from tests.media import heif

    ramp = np.dstack([np.tile(np.linspace(0, 255, 120), (100, 1))] * 3).astype(np.uint8)
    photo = heif(tmp_path / "IMG_0001.HEIC", ramp, rotate=1)
    out = pixels(stylize(client, content=photo, size=64))
    assert out.shape[:2] == (64, 53)  # portrait: 100x120 turned, at 64 on its long side
    damaged = tmp_path / "IMG_0002.HEIC"
    damaged.write_bytes(photo.read_bytes()[:40])
    assert "cannot be read as an image" in error(stylize(client, content=damaged), 422)
