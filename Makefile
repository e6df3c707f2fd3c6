# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
YEAR   ?= 2011

.PHONY: run test bench golden sample-data validate letters clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "skl-payout needs Python 3.11 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	@echo "==> First use: installing skl-payout and what it needs into $(VENV)/ (about a minute; later runs skip this)"
	@test -x $(BIN)/python || { echo "==> [1/3] creating the virtual environment $(VENV)/"; $(PYTHON) -m venv $(VENV); }
	@echo "==> [2/3] upgrading pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> [3/3] installing skl-payout with its dependencies and test tools (pip lists each package)"
	@$(BIN)/python -m pip install --progress-bar off -e '.[test]' 2>&1 | tee $(VENV)/pip-install.log | \
		grep --line-buffered -E '^(Collecting|Installing|Successfully|ERROR|error)'; \
		status=$${PIPESTATUS[0]}; [ $$status -eq 0 ] || \
		{ echo "==> pip failed (exit $$status); its whole output is in $(VENV)/pip-install.log"; exit $$status; }
	@$(BIN)/python -m compileall -q skl_payout > /dev/null  # bytecode once, also where PYTHONDONTWRITEBYTECODE is set
	@echo "==> installed; ready"
	@touch $(STAMP)

run: $(STAMP)  ## compute the 2011 payouts on the bundled sample data into out/2011/
	$(BIN)/skl-payout run --year $(YEAR)

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder  # see tests/conftest.py

validate: $(STAMP)  ## check every shipped rule file against its sample data
	$(BIN)/skl-payout validate

letters: run  ## the letters of the run in out/$(YEAR)
	$(BIN)/skl-payout letters --year $(YEAR)

bench: $(STAMP)  ## timings and the ratios the targets are set in, printed (not a test)
	@$(BIN)/python -m compileall -q skl_payout > /dev/null
	$(BIN)/python scripts/bench.py

golden: $(STAMP)  ## deliberately regenerate tests/golden/ after a reviewed change of results
	$(BIN)/python scripts/update_golden.py

sample-data: $(STAMP)  ## regenerate sample_data/ from reference/ (fixed seed)
	$(BIN)/python scripts/make_sample_data.py

clean:
	rm -rf out build dist *.egg-info .pytest_cache
