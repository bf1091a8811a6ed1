"""Files braingan writes: atomic writes, generator files, images."""
