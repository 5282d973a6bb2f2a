"""Starting the server for ``stylize serve``: the listening socket, the address line, the browser, uvicorn."""

from __future__ import annotations

import socket
import sys
import threading
import webbrowser

import python_multipart  # noqa: F401 - Starlette reads forms with it: missing, fail here, not on the first upload
import uvicorn

from pipeline.errors import UsageError
from pipeline.options import ServeOptions
from pipeline.serve.app import create_app


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (UsageError with the reason when it cannot be, e.g. the port is taken):
    bound here, so that failure is one line rather than a server log."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def address(options: ServeOptions) -> str:
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"http://{host}:{options.port}/"


def launch(options: ServeOptions, open_browser: bool = False) -> None:
    """Serve until Ctrl-C: prints the address (and a warning off loopback), opens a browser if asked."""
    from pipeline.device import pick_device, pick_dtype
    from pipeline.process import setup_process

    sock = listen(options.host, options.port)
    device = pick_device(options.device)
    setup_process(device, pick_dtype("auto", device))
    app = create_app(options)
    url = address(options)
    if not options.loopback:
        print(f"warning: listening on {options.host}: anyone who can reach this machine on that network can use "
              "the app (there is no password)", file=sys.stderr)
    print(f"stylize serve: open {url} (on {device}; Ctrl-C stops)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [url]).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
    finally:
        app.server.close()  # the lifespan closes it too; again is harmless
        sock.close()
