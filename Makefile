# The project's entry points. `make help` lists them; each installs what it needs first
# (tools/bootstrap.sh: a .venv from requirements.lock, anvil from npm, the C kernels), idempotently.
.PHONY: help demo test devnet devnet-stop bootstrap lint format bench-gas bench-gas-el clean
.DEFAULT_GOAL := help

VENV := .venv/bin
ANVIL = $$(tools/bootstrap.sh | tail -n1)
PY_TREES := offchain tests scripts bench tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## run the main job on a local devnet
	@tools/run demo

test: ## run every test (contracts on anvil, off-chain code in-process)
	@tools/run test

devnet: ## start a persistent local chain, everything deployed and seeded (.devnet/devnet.json)
	@tools/run devnet

devnet-stop: ## stop the devnet started by make devnet (its state stays in .devnet/)
	@tools/run devnet-stop

bootstrap: ## install the venv, anvil and the C kernels (idempotent)
	@tools/bootstrap.sh >/dev/null

lint: bootstrap ## ruff check and ruff format --check
	@$(VENV)/ruff check $(PY_TREES)
	@$(VENV)/ruff format --check $(PY_TREES)

format: bootstrap ## ruff format the Python trees
	@$(VENV)/ruff format $(PY_TREES)

bench-gas: bootstrap ## gas of the main operations (JSON in bench/results/)
	@PATH=$$PWD/$(VENV):$(ANVIL):$$PATH $(VENV)/python bench/gas/bench_gas.py

bench-gas-el: bootstrap ## bench-gas beside EigenLayer v1.12 (EL=checkout EL_DEPS=npm prefix, docs/restaking.md)
	@test -n "$(EL)" || { echo "usage: make bench-gas-el EL=<eigenlayer-contracts at v1.12.0> EL_DEPS=<npm prefix>" >&2; exit 2; }
	@PATH=$$PWD/$(VENV):$(ANVIL):$$PATH $(VENV)/python bench/gas/bench_gas.py \
		--eigenlayer "$(EL)" $(if $(EL_DEPS),--eigenlayer-deps "$(EL_DEPS)")

clean: ## remove build outputs and caches (keeps .venv and .tools)
	@rm -rf .build .cache .pytest_cache .hypothesis bench/results
