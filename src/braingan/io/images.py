"""Generator output as 8-bit grey images: conversion, PNG files and grids."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from braingan.io.atomic import atomic_write_bytes


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 1, H, W] in [-1, 1] -> uint8 [N, H, W], rounded to the nearest grey level."""
    scaled = ((images.detach().float().cpu()[:, 0] + 1.0) * 127.5).round().clamp(0, 255)
    return scaled.to(torch.uint8).numpy()


def grid(images: np.ndarray, rows: int, cols: int, gap: int = 2) -> np.ndarray:
    """Tile uint8 [N, H, W] into rows x cols with a black gap; missing cells stay black."""
    n, h, w = images.shape
    canvas = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), dtype=np.uint8)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        canvas[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = images[i]
    return canvas


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> None:
    atomic_write_bytes(path, png_bytes(image))
