# Two commands for a fresh machine: `make demo` (the whole job on the built-in synthetic data) and `make test`.
# Both create .venv and install the package into it; as root they also install Debian's graphviz when `dot` is missing,
# and `make test` Debian's chromium, whose headless browser checks the page of darts-nexp report.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test graphviz chromium clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# $(call debian,COMMAND,PACKAGE,WHAT FOR,WHAT HAPPENS WITHOUT IT): Debian's PACKAGE when COMMAND is missing and we
# are root (no commas inside the arguments). A failed install is a note, not a failed make: both are optional.
define debian
	@if ! command -v $(1) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing $(2) ($(3))"; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; } \
				|| echo "note: $(2) could not be installed; $(4)"; \
		else \
			echo "note: $(1) not found; $(4) (install with: sudo apt-get install $(2))"; \
		fi; \
	fi
endef

graphviz:
	$(call debian,dot,graphviz,for drawing cells,cells are saved as .gv only)

chromium:
	$(call debian,chromium,chromium,for the browser check of the report page,the browser check of the report is skipped)

# The report of the demo's training run ends it: the newest runs/train-* is the one just written.
demo: $(STAMP) graphviz
	$(BIN)/darts-nexp search --config demo
	$(BIN)/darts-nexp train --config demo --genotype genotypes/synthetic.yaml
	$(BIN)/darts-nexp report "$$(ls -d runs/train-* | tail -n 1)"

test: $(STAMP) graphviz chromium
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs data *.egg-info
