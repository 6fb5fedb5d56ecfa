# GM ODA platform. Every target sets itself up: a .venv with the pinned packages, and the embedded
# PostgreSQL under .gmoda/ (or the server GMODA_DATABASE_URL names).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test ui bench db-stop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

## make run: simulate partner drops, load them through Dagster, refresh everything, print a summary
run: $(STAMP)
	$(BIN)/gmoda run

## make test: the test suite against a real embedded PostgreSQL (two workers)
test: $(STAMP)
	$(BIN)/pytest -n 2 -q

## make ui: code server, webserver (http://localhost:3000) and daemon as separate processes; Ctrl-C stops all
ui: $(STAMP)
	$(BIN)/gmoda ui

## make bench: at Greater Manchester scale, drops into raw (the loader against a bare COPY, then through Dagster runs),
## the nightly refresh in process and as the daemon runs it, ingest and refresh from an empty platform both ways,
## the record linkage against the simulated truth, the synthesis of every council's children, then the
## school-readiness model
bench: $(STAMP)
	$(BIN)/python bench/raw_load.py --dagster
	$(BIN)/python bench/refresh.py
	$(BIN)/python bench/from_empty.py
	$(BIN)/python bench/linkage.py
	$(BIN)/python bench/synthetic.py
	$(BIN)/python bench/school_readiness.py

db-stop: $(STAMP)
	$(BIN)/gmoda db stop

clean:
	-$(BIN)/gmoda db stop
	rm -rf .gmoda
