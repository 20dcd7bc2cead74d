# Two entry points for a new user: `make run` and `make test`.
# Both create .venv on first use and install the project with its pins.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest index bench browser fonts

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, from the CPU wheel, so nothing pulls a CUDA build
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,ocr,scale]"
	touch $(STAMP)

# Build the corpus store and the index from the shipped corpus on first use, then serve.
run: $(STAMP)
	@test -f "$${RAG_HOME:-var}/index/manifest.json" || ($(BIN)/rag ingest && $(BIN)/rag index)
	$(BIN)/rag serve

lint: $(STAMP)
	$(BIN)/ruff check rag tests bench
	$(BIN)/ruff format --check rag tests bench

typecheck: $(STAMP)
	$(BIN)/mypy rag

# The browser test drives Debian's Chromium (a test tool's own browser download is
# not possible offline); install it when missing and we are allowed to.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji) || \
	    echo "chromium not installed: the browser test will be skipped"; }

# The format tests render PDF, Word and OFD fixtures with a CJK font: Debian's WenQuanYi
# Zen Hei (TrueType outlines, quick to subset) or Noto CJK. Installed when missing and root.
fonts:
	@test -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq fonts-wqy-zenhei fonts-noto-cjk) || \
	    echo "no CJK font installed: the format tests will be skipped"; }

pytest: $(STAMP) browser fonts
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test: lint typecheck pytest

index: $(STAMP)
	$(BIN)/rag ingest && $(BIN)/rag index

bench: $(STAMP)
	$(BIN)/rag bench
