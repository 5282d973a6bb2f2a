"""Batch neural style transfer for image folders and videos."""
