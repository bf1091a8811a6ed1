"""``python -m braingan`` (and ``torchrun -m braingan``) runs the command line."""

from braingan.cli import main

raise SystemExit(main())
