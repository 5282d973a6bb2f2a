"""The one error a request can get: an HTTP status and one line saying what is wrong, sent as
``{"error": "..."}``, so the page and ``curl`` users read the same sentence."""

from __future__ import annotations


class ApiError(Exception):
    """A request that cannot be served as sent; ``status`` is a 4xx (or 503 while shutting down)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message
