# Two commands for a fresh machine: `make demo` (the whole job on the built-in synthetic data) and `make test`.
# Both create .venv and install the package into it; as root they also install Debian's graphviz when `dot` is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test graphviz clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

graphviz:
	@if ! command -v dot >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing graphviz (for drawing cells)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
		else \
			echo "note: graphviz 'dot' not found; cells are saved as .gv only (install with: sudo apt-get install graphviz)"; \
		fi; \
	fi

demo: $(STAMP) graphviz
	$(BIN)/darts-nexp search --config demo
	$(BIN)/darts-nexp train --config demo --genotype genotypes/synthetic.yaml

test: $(STAMP) graphviz
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs data *.egg-info
