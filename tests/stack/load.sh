#!/usr/bin/env bash
# `make load`: the webhook load test (tests/bench/src/bin/load-test.rs) on a
# local stack of its own ports and state, so a developer's `make dev` is left
# alone. Loopback only; bounded (1,000 deliveries).
set -euo pipefail
cd "$(dirname "$0")/../.."
export MOTO_PORT=4588 FUNCTIONS_PORT=9088 WAYMARK_CONTROL=127.0.0.1:9089 STATE_DIR=.local/load
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
# Dispatch sends as fast as the emulator takes it (the account's real rate
# paces it in AWS).
export SES_MAX_SEND_RATE="${SES_MAX_SEND_RATE:-500}"
source tests/stack/env.sh
trap 'make --no-print-directory down STATE_DIR=$STATE_DIR >/dev/null 2>&1 || true' EXIT
cargo build --quiet -p waymark-bench --bin load-test
make --no-print-directory dev >/dev/null
target/debug/load-test "$@"
