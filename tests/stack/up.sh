#!/usr/bin/env bash
# `make dev`: starts moto, creates the template's resources, serves every
# function with `cargo lambda watch`, starts the local runner; returns once
# all are ready. `make down` stops them.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/stack/env.sh
mkdir -p "$STATE_DIR"

running() { [ -f "$STATE_DIR/$1.pid" ] && kill -0 "$(cat "$STATE_DIR/$1.pid")" 2>/dev/null; }
wait_http() { # url what seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    curl -fs -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "dev: $2 did not come up within $3 s; see $STATE_DIR/*.log" >&2
  exit 1
}
start() { # name command...
  local name=$1; shift
  setsid "$@" >"$STATE_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE_DIR/$name.pid"
}

if running moto && running watch && running runner; then
  echo "dev: already running (make down to stop)"
  exit 0
fi
bash tests/stack/down.sh >/dev/null 2>&1 || true

echo "dev: building the functions and the waymark tool (debug)…"
cargo build --quiet --workspace --bins

echo "dev: moto on ${AWS_ENDPOINT_URL}"
# moto_server, remembering only SES's objects (see the launcher).
start moto "$VENV/bin/python3" tests/stack/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
wait_http "$AWS_ENDPOINT_URL/moto-api/" moto 30

"$WAYMARK" local up --template infra/template.yaml

# The secrets, kept as the template keeps them: SSM SecureString parameters
# under SECRETS_PATH (moto plays SSM). The functions are told only the
# parameters' names, as in AWS; the scripts keep the values to sign webhooks.
"$VENV/bin/python" - <<PY
import boto3
ssm = boto3.client("ssm", endpoint_url="$AWS_ENDPOINT_URL")
for name, value in [
    ("shopify-webhook-secret", "$SHOPIFY_WEBHOOK_SECRET"),
    ("unsubscribe-secret", "$UNSUBSCRIBE_SECRET"),
    ("coupon-secret", "$COUPON_SECRET"),
]:
    ssm.put_parameter(Name="$SECRETS_PATH/" + name, Value=value, Type="SecureString", Overwrite=True)
PY

# --disable-cors: the functions answer CORS themselves (ingest's /track allows
# only its write keys' origins); watch's own permissive layer would hide that.
echo "dev: cargo lambda watch on $FUNCTIONS"
start watch env -u SHOPIFY_WEBHOOK_SECRET -u UNSUBSCRIBE_SECRET -u COUPON_SECRET \
  SHOPIFY_WEBHOOK_SECRET_PARAMETER="$SECRETS_PATH/shopify-webhook-secret" \
  UNSUBSCRIBE_SECRET_PARAMETER="$SECRETS_PATH/unsubscribe-secret" \
  UNSUBSCRIBE_SECRET_PREVIOUS_PARAMETER="$SECRETS_PATH/unsubscribe-secret-previous" \
  COUPON_SECRET_PARAMETER="$SECRETS_PATH/coupon-secret" \
  PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda watch \
  --invoke-address 127.0.0.1 --invoke-port "$FUNCTIONS_PORT" --disable-cors
# Warm every function once, so the first real request does not wait for a start.
invoke() { curl -fs -o /dev/null -X POST "$FUNCTIONS/2015-03-31/functions/$1/invocations" -d "$2"; }
ready=0
for _ in $(seq 1 600); do
  if curl -s -o /dev/null -w '%{http_code}' "$FUNCTIONS/lambda-url/ingest/health" 2>/dev/null | grep -q 404; then
    ready=1; break
  fi
  sleep 0.5
done
[ "$ready" = 1 ] || { echo "dev: cargo lambda watch did not serve ingest; see $STATE_DIR/watch.log" >&2; exit 1; }
invoke process '{"Records":[]}'
invoke dispatch '{"Records":[]}'
invoke timer '{"time":"1970-01-01T00:00:00Z"}'
curl -s -o /dev/null "$FUNCTIONS/lambda-url/preferences/health" || true

echo "dev: local runner, control on ${WAYMARK_CONTROL}"
start runner "$WAYMARK" local run --template infra/template.yaml --functions $FUNCTIONS \
  ${TICK:+$( [ "$TICK" = realtime ] && echo --realtime )}
wait_http "http://${WAYMARK_CONTROL}/health" runner 30
echo "dev: ready — webhooks to $FUNCTIONS/lambda-url/ingest/shopify"
