"""Temporal consistency for video: optical flow, scene cuts and stabilised stylization."""
