# `make test` and `make demo` work on a fresh machine: they build .venv when it is missing or
# when the dependency files changed, then run the tests / the main job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench zoo install clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/lifelong compare

bench: $(STAMP)
	for b in benchmarks/loop_overhead.py benchmarks/parallel_scaling.py benchmarks/ray_scaling.py benchmarks/meta_throughput.py benchmarks/agent_cost.py benchmarks/continual_eval.py benchmarks/dataset_memory.py benchmarks/long_stream.py benchmarks/augment_throughput.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info

zoo: $(STAMP)
	$(BIN)/python benchmarks/zoo_split_mnist.py
