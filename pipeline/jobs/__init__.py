"""The jobs: ``folder`` (a tree of images) and ``video`` (a file or a folder of videos).

Each job plans its work items, runs one item, and finishes; the engines (here, or Ray) only schedule items.
"""
