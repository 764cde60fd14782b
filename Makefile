# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/python -m drachtio.demo

test: setup lint
	@.venv/bin/python -m pytest -q -p no:cacheprovider

lint: setup
	@.venv/bin/ruff check -q src tests bench examples
	@.venv/bin/mypy src/drachtio

# every benchmark, each printing its figures and the ratio to a peer measured in the same run
bench: setup
	@.venv/bin/python bench/parse.py
	@.venv/bin/python bench/engine_uas.py
	@.venv/bin/python bench/b2bua.py
	@.venv/bin/python bench/b2bua_embedded.py

clean:
	rm -rf .venv build dist src/*.egg-info
