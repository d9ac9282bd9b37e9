# LEMONS: `make demo` sets everything up and runs the demo; `make test` runs the whole test suite.
# Both are idempotent: a re-run skips what is done.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CATALOGUE_TRACKS ?= 1100

# The shipped models and their report come from `make models`: the shared FCN (models/shared.pt:
# 2000 steps, then 4500 more with the stem shares' loss weighing 4 times as much: SHARED_STAGE2, then
# 10000 more at a lower learning rate, under bfloat16 autocast: SHARED_STAGE3),
# then each persona's FCN on it (init=shared): a linear probe of its embedding, without fine-tuning
# steps (n_epochs=0), fitted on the training and validation splits with its L2 strength chosen by
# out-of-fold AUC, and calibrated on its out-of-fold logits. Fine-tuned for 400 steps after the probe:
# `make models TRAIN_ARGS='n_steps=400 val_every=1 patience=0'`. The paper's recipe from scratch:
# `make models INIT=scratch TRAIN_ARGS='n_steps=400 val_every=5 patience=0'`.
# Then each persona's recipe is cross-validated (five folds of its whole history) for the report.
# `make models PRETRAIN=no` keeps models/shared.pt and retrains the personas only.
PERSONAS := marko matteo johnny elizabeth nina paige sandra clara ringo
INIT ?= shared
PRETRAIN ?= yes
TRAIN_ARGS ?= n_epochs=0 probe_c=auto probe_tracks=train+val calibration=crossfit
SHARED_STAGE2 ?= init=shared share_weight=4 lr=5e-4 n_steps=4500
SHARED_STAGE3 ?= init=shared share_weight=4 lr=3e-4 n_steps=10000 val_every=1000 precision=bf16
PORT ?= 8501

.PHONY: demo app test system-deps system-deps-test venv venv-dev weights catalogue warm models lint help

help:
	@echo "make demo   - system packages, virtual environment, Spleeter weights, built-in catalogue, warm caches, demo"
	@echo "make test   - install the dev requirements and run the whole test suite"
	@echo "make models - retrain the shared model and the persona models, cross-validate them, write their report"

system-deps:
	scripts/install-system-deps.sh

system-deps-test:  # the browser of the app's end-to-end test
	scripts/install-system-deps.sh chromium

venv:
	scripts/ensure-venv.sh $(VENV) $(PYTHON) requirements.txt

venv-dev:
	scripts/ensure-venv.sh $(VENV) $(PYTHON) requirements-dev.txt

weights: venv
	$(BIN)/lemons setup weights

catalogue: venv
	$(BIN)/lemons data build --n-tracks $(CATALOGUE_TRACKS)

warm: venv  # what the page shows first, scored into the caches (a rerun finds them there)
	$(BIN)/lemons setup warm

demo: system-deps venv weights catalogue
	$(BIN)/lemons data validate --quiet
	@$(MAKE) --no-print-directory warm
	@echo
	@echo "Built: Spleeter 2stems weights, the built-in catalogue and the personas' listening histories."
	$(BIN)/lemons personas list
	@$(MAKE) --no-print-directory app

app:
	@echo "Starting the demo at http://127.0.0.1:$(PORT) (Ctrl+C stops it)"
	$(BIN)/lemons app --address 127.0.0.1 --port $(PORT)

models: venv
	if [ "$(INIT)" = shared ] && [ "$(PRETRAIN)" = yes ]; then \
		$(BIN)/python recsys/pretrain.py with publish=True progress=False || exit 1; \
		$(BIN)/python recsys/pretrain.py with $(SHARED_STAGE2) publish=True progress=False || exit 1; \
		$(BIN)/python recsys/pretrain.py with $(SHARED_STAGE3) publish=True progress=False || exit 1; \
	fi
	for user in $(PERSONAS); do \
		$(BIN)/python recsys/experiment.py with user_name=$$user init=$(INIT) publish=True $(TRAIN_ARGS) || exit 1; \
	done
	$(BIN)/python recsys/crossval.py with user_name=all progress=False
	$(BIN)/python recsys/eval.py with user_name=all recommendations=True

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: system-deps system-deps-test venv-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest
