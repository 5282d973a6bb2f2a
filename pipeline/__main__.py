"""``python -m pipeline``: the ``stylize`` CLI without its installed entry point (a checkout on PYTHONPATH, or an
environment whose scripts folder is not on PATH)."""

from pipeline.cli import app

if __name__ == "__main__":
    app(prog_name="stylize")
