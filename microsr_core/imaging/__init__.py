"""Pure NumPy on the image contract (float32 RGB, (H, W, 3), [0, 1]): files in and out, colour,
degradations, metrics, alignment, tiles, regions, parsing maps, cells, LR facts, dataset splits.

Nothing here imports torch, streamlit or another wing of the package (only :mod:`microsr_core.errors`).
"""
