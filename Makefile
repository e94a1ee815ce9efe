# The two commands of the quick start. Both install what they need on a fresh machine:
# a venv with the project, Kafka (via Maven) and PostgreSQL (via apt) on first use.
.PHONY: run test lint stack-up stack-down

run:  ## the whole service with a live demo feed, until Ctrl-C
	bash deploy/bootstrap.sh
	.venv/bin/python -m stream.engine
	.venv/bin/ems-ml run

test:  ## every test, against a real local Kafka and PostgreSQL
	bash deploy/bootstrap.sh
	bash deploy/test_tools.sh
	.venv/bin/ruff check .
	.venv/bin/python -m stream.engine
	.venv/bin/ems-ml stack up
	.venv/bin/pytest

lint:
	bash deploy/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

stack-up:
	bash deploy/bootstrap.sh
	.venv/bin/ems-ml stack up

stack-down:
	.venv/bin/ems-ml stack down
