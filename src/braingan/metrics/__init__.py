"""Metrics on arrays of images (never on runs), one module each, listed in ``registry``.

Array-level entry points: ``swd.swd``, ``diversity.diversity`` / ``pairwise_ms_ssim``,
``memorization.audit``. Inputs follow ``metrics.arrays``: float [N, 1, H, W] in [-1, 1]
(tensor or array) or uint8 [N, H, W].
"""
