# Fresh machine: `make demo` and `make test` install everything they need into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STYLE ?= samples/style/starry_night.jpg

.PHONY: install demo test bench bench-ray profile temporal train eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/stylize folder samples/content out/folder --style $(STYLE)
	$(BIN)/stylize video samples/video/astronaut_pan.mp4 out/video/astronaut_pan.mp4 --style $(STYLE)
	@echo "Results: out/folder/ (stylized photos, same tree as samples/content) and out/video/astronaut_pan.mp4"

test: install
	$(BIN)/python -m pytest -q

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

train: install out/styles/SOURCES.tsv
	nice -n 10 $(BIN)/stylize train --content-dir ../shared/data/train/content \
		--style-dir ../shared/data/train/style --style-dir out/styles --out $(CKPT) --crop 128 --batch-size 16 \
		--lr 3e-4 --style-loss l2 --style-weight 468 --style-augment --ema-decay 0.999 --resume --init-from pipeline/weights/decoder.safetensors

eval: install
	$(BIN)/python scripts/eval_decoder.py --gap --grid docs/decoder_grid.jpg --out out/eval_decoder.json

clean:
	rm -rf out build *.egg-info
