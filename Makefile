# One-line targets; the logic lives in Python modules. `make test` and `make demo` set up first, so a
# fresh clone needs nothing else.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SCALE ?= smoke
export MUJOCO_GL ?= egl

.PHONY: setup test test-fast demo data figures ship-results bench bench-gpu parity lint lock clean-venv omniboard check-docker-deps check-omniboard image image-lock check-image check-compose

setup: $(STAMP)

# Reinstalls only when the lock or the package metadata changed; otherwise a no-op.
$(STAMP): environment.lock pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r environment.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

# The edit loop: every test not marked slow (under 2 minutes on 2 cores); `make test` stays the whole suite.
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

demo: setup
	$(PY) -m diswm_app.cli demo --out demo

data: setup
	$(PY) -m diswm_app.cli data --scale $(SCALE)

figures: setup
	$(PY) -m diswm_app.cli figures

# Regenerate results/shipped (smoke-scale records, checkpoints and scores for a fresh clone's figures).
ship-results: setup
	$(PY) -m diswm_app.experiments.ship_results

bench: setup
	$(PY) -m bench.env_speed
	$(PY) -m bench.train_step --scale paper --batch 50 --length 50
	$(PY) -m bench.train_step --scale paper --batch 16 --length 50
	$(PY) -m bench.train_step --scale cpu --batch 16 --length 32
	$(PY) -m bench.step_flops --scale paper --batch 50 --length 50
	$(PY) -m bench.finetune_speed --scale cpu
	$(PY) -m bench.metrics_speed
	$(PY) -m bench.eval_speed --scale cpu --episodes 10 --time-limit 200 --repeats 5
	$(PY) -m bench.precision_check --scale cpu --batch 16 --length 32 --updates 300
	$(PY) -m bench.gpu_hours  # paper-item GPU-hours from the GPU measurements kept in bench/results
	@# our train step against the released code's, in alternating processes (needs its checkout in OFFICIAL)
	@if [ -f $(OFFICIAL)/dreamer.py ]; then \
		$(PY) -m bench.official_step --official $(OFFICIAL) --batch 50 --length 50 && \
		$(PY) -m bench.official_step --official $(OFFICIAL) --batch 16 --length 50; \
	else echo "[bench] no released code in OFFICIAL=$(OFFICIAL) (clone github.com/qiwang067/DisWM): bench.official_step not run"; fi

# On a machine with an NVIDIA GPU (the lent device here): train step eager / compile / CUDA graph, the
# graph-vs-eager check, the profile, the finetune loop and the acting split; results land in bench/results/.
bench-gpu: setup
	PY=$(PY) bash bench/gpu.sh bench/results

# Parity with the released code (a checkout of github.com/qiwang067/DisWM in OFFICIAL): report, and the golden
# file that `make test` checks (tests/test_official_parity.py) without the released code.
OFFICIAL ?= ../DisWM
parity: setup
	$(PY) -m bench.official_parity --official $(OFFICIAL) --out bench/results/official_parity.json \
		--write-golden tests/golden/official_parity.pt

lint: setup
	$(VENV)/bin/ruff check src experiments paper_figures tests bench docker setup.py

# Re-resolve pyproject.toml (+ test extra) from scratch into environment.lock.
lock:
	rm -rf /tmp/diswm-lock && $(PYTHON) -m venv /tmp/diswm-lock
	/tmp/diswm-lock/bin/pip install --quiet "torch==2.13.0" ".[test,ray]"
	/tmp/diswm-lock/bin/pip uninstall --quiet -y diswm
	{ sed -n '/^#/p' environment.lock; /tmp/diswm-lock/bin/pip freeze --all | grep -v -E '^(pip|wheel)=='; } > environment.lock.new
	mv environment.lock.new environment.lock

# Omniboard from npm on this host, bound to 127.0.0.1 (MongoDB must already run, e.g. via docker/compose.yaml):
# `make omniboard MONGO=host:port MONGO_DB=name` for another database.
MONGO ?= 127.0.0.1:27017
MONGO_DB ?= sacred
omniboard:
	test -d node_modules/omniboard || npm install --no-save omniboard@2.16.1
	PORT=9000 node -r ./docker/omniboard-loopback.js node_modules/omniboard/dist/start.js -m $(MONGO):$(MONGO_DB)

# Real-client check: records import, then Omniboard 2.16.1 (.cache/omniboard/) in headless Chromium, against
# $MONGO_URL or the test-only wire double; screenshots, DOM dumps and summary.json in results/omniboard_check/.
check-omniboard: setup
	$(PY) -m tests.omniboard.check_omniboard

clean-venv:
	rm -rf $(VENV)

# The Docker image's Python layer without Docker: its requirements (docker/image_requirements.sh: the lock with
# the CUDA build of torch) resolve with pip (metadata only, nothing installed).
check-docker-deps: setup
	sh docker/image_requirements.sh < environment.lock > $(VENV)/image-requirements.txt
	$(PY) -m pip install --dry-run --ignore-installed --quiet --report $(VENV)/image-resolve.json \
		-r $(VENV)/image-requirements.txt
	$(PY) -c "import json; r = json.load(open('$(VENV)/image-resolve.json'))['install']; \
		t = [p['metadata']['version'] for p in r if p['metadata']['name'] == 'torch']; \
		n = sum(p['metadata']['name'].startswith('nvidia-') for p in r); \
		print(f'image requirements resolve: {len(r)} packages, torch {t}, {n} nvidia-* CUDA packages'); \
		assert t == ['2.13.0'] and n > 0"

# The image lock: every package of the image with its sha256 (PyPI's files), from environment.lock with the CUDA
# build of torch; the Dockerfile installs it with --require-hashes (docker/image_lock.py).
image-lock: setup
	$(PY) docker/image_lock.py > docker/image.lock.new
	mv docker/image.lock.new docker/image.lock

# The image, with docker or else podman (docker/image.sh; the base from Debian's archive where no registry answers).
IMAGE ?= diswm:latest
image:
	docker/image.sh build $(IMAGE)

# Build the image, then use it as a user would (tests/container/check_image.py): smoke tables of DMC, Pusher and
# DrawerWorld, a killed container resumed, two containers on one cell, figures, bad input. results/image_check/.
check-image: setup
	$(PY) -m tests.container.check_image --image $(IMAGE)

# docker/compose.yaml brought up with a real engine (docker compose, or podman-compose): Omniboard built from its
# Dockerfile, a reproduce container recording into MongoDB (the wire double, docker/compose.check.yaml), then
# headless Chromium lists its runs (tests/container/check_compose.py). results/compose_check/.
check-compose: setup
	$(PY) -m tests.container.check_compose
