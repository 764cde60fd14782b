# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test lint bench bench-parse clean

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/python -m drachtio.demo

test: setup lint
	@.venv/bin/python -m pytest -q -p no:cacheprovider

lint: setup
	@.venv/bin/ruff check -q src tests bench examples
	@.venv/bin/mypy src/drachtio

bench: setup
	@.venv/bin/python bench/run_all.py

bench-parse: setup
	@.venv/bin/python bench/parse.py

clean:
	rm -rf .venv build dist src/*.egg-info
