"""Pure tensor functions: no I/O, no models, no device logic."""
