"""``stylize serve``: a local web app and HTTP API over the same public API and video job as the CLI.

``app.py`` builds the FastAPI app and its routes, ``photos.py`` keeps stylizers loaded between requests,
``jobs.py`` runs video jobs one at a time in the background, ``uploads.py`` limits and checks what a request
brings, ``gallery.py`` finds the bundled styles and photos; ``static/`` is the page (no CDN: it works offline).
Importing this package does not import torch or FastAPI.
"""
