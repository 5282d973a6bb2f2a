"""``python -m pipeline``: the ``stylize`` CLI without its installed entry point (a checkout on PYTHONPATH)."""

from pipeline.cli import app

app(prog_name="stylize")
