"""``stylize serve``: parse the options and hand them to ``pipeline.serve.launch``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.cli.params import DeviceOpt
from pipeline.options import Device

SERVE_EXAMPLES = """Examples:

  stylize serve

  stylize serve --port 8080 --open

  stylize serve --host 0.0.0.0 --max-upload-mb 100 --keep-minutes 30"""


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (anything but loopback is open to that network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    device: DeviceOpt = Device.AUTO,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
    max_upload_mb: Annotated[float, typer.Option(help="Largest request body (a photo or a clip) in MB.")] = 300.0,
    keep_minutes: Annotated[float, typer.Option(help="Uploads and finished jobs are removed after this long.")] = 60.0,
    preview_size: Annotated[int, typer.Option(min=64, max=2048, help="The page's work size while trying settings.")] = 384,
    gallery: Annotated[Optional[Path], typer.Option(help="Folder with style/ and content/ images for the page (default: samples/ of the source tree).")] = None,
) -> None:
    """A local web app: try styles on a photo or a clip in the browser (and an HTTP API, see the README)."""
    from pipeline.cli.run import fail
    from pipeline.errors import UsageError
    from pipeline.options import ServeOptions

    try:
        options = ServeOptions(host, port, device, max_upload_mb, keep_minutes, preview_size, gallery)
        from pipeline.serve.launch import launch
    except UsageError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"stylize serve needs FastAPI, uvicorn and python-multipart ({exc.name} is missing): "
             "pip install 'stylize-pipeline[serve]'")
    try:
        launch(options, open_browser)
    except UsageError as exc:
        fail(str(exc))
