.PHONY: demo test bootstrap lint bench
demo:
	@tools/run demo
test:
	@tools/run test
bootstrap:
	@tools/bootstrap.sh >/dev/null
lint:
	@tools/bootstrap.sh >/dev/null && .venv/bin/ruff check offchain tests scripts bench
