# Waymark's entry points. The README documents each target; tests and users
# rely on their names and behaviour.
SHELL := /bin/bash
VENV := .venv
WAYMARK := target/debug/waymark

.PHONY: demo test test-shifted dev down tick outbox bench load browser venv build lint validate

## The local demo: a checkout becomes an abandoned-checkout email.
demo: venv
	@bash tests/stack/demo.sh

## The whole test suite: lint, content validation, unit, integration (moto), scenarios.
test: venv browser
	cargo fmt --all -- --check
	$(VENV)/bin/cfn-lint infra/template.yaml
	SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 $(VENV)/bin/sam validate --lint -t infra/template.yaml
	cargo build --quiet --workspace --bins
	$(WAYMARK) journeys validate
	$(WAYMARK) templates check
	$(WAYMARK) campaigns validate
	cargo clippy --quiet --workspace --all-targets -- -D warnings
	cargo test --workspace
	cargo test --quiet --workspace --test faults -- --ignored --nocapture
	$(MAKE) --no-print-directory test-shifted
	bash tests/stack/smoke.sh

## The test binaries again under a wall clock SHIFT away from today (libfaketime;
## cargo itself keeps the real clock): nothing a test checks may depend on the date.
SHIFT ?= +400d
test-shifted: venv
	runner="CARGO_TARGET_$$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')_RUNNER"; \
	env "$$runner=$(CURDIR)/tests/stack/shifted.sh $(SHIFT)" cargo test --workspace --quiet

## Starts the local stack (moto :4566, cargo lambda watch :9000, runner); TICK=realtime ticks each minute.
dev: venv
	@bash tests/stack/up.sh

## Stops the local stack.
down:
	@bash tests/stack/down.sh

## Fires what is due as of NOW (RFC 3339) and waits for all it caused.
tick:
	@test -n "$(NOW)" || { echo "usage: make tick NOW=2026-11-23T11:01:00Z" >&2; exit 2; }
	@cargo build --quiet --bin waymark
	@$(WAYMARK) local tick --now "$(NOW)"

## Prints the emails the local SES has accepted.
outbox:
	@cargo build --quiet --bin waymark
	@$(WAYMARK) local outbox

## Binary size and init time of every function against a hello-world Lambda; journey engine throughput.
bench: venv
	cargo run --quiet --release -p waymark-bench --bin init-bench
	cargo run --quiet --release -p waymark-bench --bin journey-bench
	cargo run --quiet --release -p waymark-bench --bin audience-bench
	cargo run --quiet --release -p waymark-bench --bin campaign-bench
	cargo run --quiet --release -p waymark-bench --bin timer-bench
	cargo run --quiet --release -p waymark-bench --bin profile-codec
	cargo run --quiet --release -p waymark-bench --bin ddb-cost
	cargo run --quiet --release -p waymark-bench --bin ddb-cost -- --window
	cargo run --quiet --release -p waymark-bench --bin ddb-cost -- --campaign

## The webhook load test on a local stack of its own: 1,000 signed deliveries from 16 senders
## (LOAD_ARGS="--deliveries 200" or "--no-settle" for a quicker run).
load: venv
	@bash tests/stack/load.sh $(LOAD_ARGS)

validate: build
	$(WAYMARK) journeys validate

build:
	cargo build --quiet --workspace --bins

## Debian's Chromium, for the test that opens the results page headless
## (installed once; needs root or sudo, as apt does).
browser:
	@command -v chromium >/dev/null || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; }

venv: $(VENV)/.installed

$(VENV)/.installed: tests/stack/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/stack/requirements.txt
	touch $@
