"""The FastAPI app: the page, the gallery, ``POST /api/stylize`` for photos and ``/api/jobs`` for clips.

``create_app(options)`` gives an ASGI app (the FastAPI app inside the upload limit). Every error is JSON
``{"error": "..."}`` with a 4xx status, and the server goes on serving. The work itself is the public API
(``photos.py``) and ``stylize video``'s job (``jobs.py``); this module only reads requests and answers.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from pipeline.device import pick_device
from pipeline.options import ServeOptions
from pipeline.serve.errors import ApiError
from pipeline.serve.forms import choice, content_image, flag, style_choice
from pipeline.serve.gallery import Gallery
from pipeline.serve.jobs import JobQueue
from pipeline.serve.photos import PhotoRequest, PhotoService
from pipeline.serve.uploads import BodyLimit, Workspace
from pipeline.serve.videos import clip_job

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)


class Server:
    """What the routes share: the temporary folder, the gallery, the photo service and the job queue."""

    def __init__(self, options: ServeOptions, **photo_options) -> None:
        self.options = options
        self.workspace = Workspace()
        self.gallery = Gallery.find(options.gallery)
        self.device = str(pick_device(options.device))
        self.photos = PhotoService(self.device, **photo_options)
        self.jobs = JobQueue(self.workspace.jobs, keep_s=options.keep_minutes * 60)
        self.stopping = threading.Event()
        self.photo_turn = asyncio.Lock()
        self.janitor = threading.Thread(target=self._sweep_now_and_then, name="cleanup", daemon=True)

    def _sweep_now_and_then(self) -> None:
        keep_s = self.options.keep_minutes * 60
        while not self.stopping.wait(min(60.0, keep_s / 4)):
            try:
                self.sweep()
            except OSError:
                log.exception("cleaning the temporary folder failed; trying again later")

    def sweep(self) -> None:
        """Remove uploads and ended jobs older than --keep-minutes."""
        self.jobs.sweep()
        self.workspace.sweep(self.options.keep_minutes * 60, self.jobs.busy_clips())

    def close(self) -> None:
        self.stopping.set()
        self.jobs.close()
        self.workspace.close()


def create_app(options: ServeOptions | None = None, **photo_options):
    """The ASGI app for ``options``; ``photo_options`` are ``load_stylizer`` options for photos. Its temporary
    folder is made now and removed when the app shuts down (its lifespan's end)."""
    server = Server(options or ServeOptions(), **photo_options)

    @asynccontextmanager
    async def lifespan(_app):
        server.janitor.start()
        yield
        server.close()

    api = FastAPI(title="stylize", lifespan=lifespan, docs_url=None, redoc_url=None)
    _error_handlers(api)
    _routes(api, server)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    limited = BodyLimit(api, server.options.max_upload_mb)
    limited.server = server
    return limited


def _error_handlers(api: FastAPI) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    api.add_exception_handler(ApiError, lambda _r, e: error(e.status, e.message))
    api.add_exception_handler(HTTPException, lambda _r, e: error(e.status_code, str(e.detail)))
    api.add_exception_handler(RequestValidationError, lambda _r, e: error(422, "; ".join(
        f"{'.'.join(map(str, x['loc'][1:]))}: {x['msg']}" for x in e.errors())))

    async def internal(_request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return error(500, f"internal error ({type(exc).__name__}: {str(exc)[:200]}); the server goes on")

    api.add_exception_handler(Exception, internal)


async def _form(request: Request):
    try:
        return await request.form(max_files=16, max_fields=64)
    except AssertionError:  # Starlette asserts a multipart parser is installed
        raise ApiError(500, "python-multipart is not installed (pip install 'stylize-pipeline[serve]')") from None


def _routes(api: FastAPI, server: Server) -> None:
    @api.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    @api.get("/api/health")
    def health():
        jobs = list(server.jobs.jobs.values())
        return {"status": "ok", "device": server.device, "preview_size": server.options.preview_size,
                "max_upload_mb": server.options.max_upload_mb, "keep_minutes": server.options.keep_minutes,
                "jobs_queued": sum(j.state == "queued" for j in jobs),
                "jobs_running": sum(j.state == "running" for j in jobs)}

    @api.get("/api/styles")
    def styles():
        return server.gallery.listing()

    @api.get("/api/styles/{name}")
    def style_image(name: str):
        return _gallery_file(server.gallery.styles, name, "gallery style")

    @api.get("/api/photos/{name}")
    def photo_image(name: str):
        return _gallery_file(server.gallery.photos, name, "bundled photo")

    @api.post("/api/stylize")
    async def stylize(request: Request):
        """Requests wait their turn here; one whose client went away meanwhile (the page aborts a preview
        when a newer change comes) is dropped, so dragging a slider does not queue every position."""
        form = await _form(request)
        async with server.photo_turn:
            if await request.is_disconnected():
                raise ApiError(499, "the client closed the request before its turn")
            return await run_in_threadpool(_stylize, server, form)

    _job_routes(api, server)


def _job_routes(api: FastAPI, server: Server) -> None:
    @api.post("/api/jobs", status_code=202)
    async def submit(request: Request):
        form = await _form(request)
        job = await run_in_threadpool(clip_job, server, form)
        return job.to_dict()

    @api.get("/api/jobs/{job_id}")
    def status(job_id: str):
        return server.jobs.get(job_id).to_dict()

    @api.get("/api/jobs/{job_id}/result")
    def result(job_id: str):
        job = server.jobs.get(job_id)
        if job.state != "done":
            raise ApiError(409, f"job {job_id} is {job.state}: no result (yet)")
        name = "stylized-preview.mp4" if job.spec.preview else "stylized.mp4"
        return FileResponse(job.spec.output, media_type="video/mp4", filename=name)

    @api.delete("/api/jobs/{job_id}")
    def delete(job_id: str):
        return server.jobs.delete(job_id).to_dict()


def _gallery_file(table: dict[str, Path], name: str, what: str) -> FileResponse:
    if name not in table:
        raise ApiError(404, f"no {what} named {name[:40]!r}")
    return FileResponse(table[name])


def _stylize(server: Server, form) -> Response:
    """One photo: read the form, stylize under the photo lock, encode as PNG (or JPEG with format=jpeg)."""
    content = content_image(form, server.workspace, server.gallery)
    style = style_choice(form, server.workspace, server.gallery, server.options.preview_size)
    fmt = choice(form, "format", ("png", "jpeg", "jpg"), "png")
    request = PhotoRequest(content, style.paths, style.ids, style.weights, style.alpha, style.preserve_color,
                           style.size, flag(form, "keep_size"))
    try:
        image, seconds = server.photos.stylize(request)
    finally:
        if content.parent == server.workspace.uploads:
            content.unlink(missing_ok=True)  # sent again with every change: kept, it would pile up
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, "PNG", compress_level=1)  # speed over size: previews are thrown away
    else:
        image.save(buffer, "JPEG", quality=92)
    media = "image/png" if fmt == "png" else "image/jpeg"
    return Response(buffer.getvalue(), media_type=media, headers={"X-Stylize-Seconds": f"{seconds:.3f}",
                                                                  "Cache-Control": "no-store"})
