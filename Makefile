.PHONY: demo test bootstrap lint bench
demo:
	@tools/run demo
test:
	@tools/run test
bootstrap:
	@tools/bootstrap.sh >/dev/null
bench-gas:
	@tools/bootstrap.sh >/dev/null && PATH=$$PWD/.venv/bin:$$(tools/bootstrap.sh | tail -n1):$$PATH .venv/bin/python bench/gas/bench_gas.py
lint:
	@tools/bootstrap.sh >/dev/null && .venv/bin/ruff check offchain tests scripts bench
