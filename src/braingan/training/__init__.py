"""One training loop for every preset: step math, loop, losses, checkpoints."""
