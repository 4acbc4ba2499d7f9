#!/usr/bin/env bash
# `make demo`: a customer leaves a checkout at 10:00Z; time moves to 10:59
# (nothing) and 11:01 (the reminder); prints what SES accepted; stops what it
# started.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/stack/env.sh
started=0
if ! curl -fs -o /dev/null "http://${WAYMARK_CONTROL}/health" 2>/dev/null; then
  bash tests/stack/up.sh
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then bash tests/stack/down.sh >/dev/null; fi; }
trap cleanup EXIT

echo
echo "demo: Ana leaves a checkout at 2026-11-23T10:00Z (a signed Shopify webhook)"
"$WAYMARK" local webhook --url "$FUNCTIONS/lambda-url/ingest/shopify" checkouts/create events/shopify/checkouts_create.json --webhook-id demo-checkout-1
echo "demo: the same delivery again (Shopify retries) — no second effect"
"$WAYMARK" local webhook --url "$FUNCTIONS/lambda-url/ingest/shopify" checkouts/create events/shopify/checkouts_create.json --webhook-id demo-checkout-1
echo
echo "demo: tick at 10:59 — the hour is not up"
"$WAYMARK" local tick --now 2026-11-23T10:59:00Z >/dev/null
"$WAYMARK" local outbox
echo
echo "demo: tick at 11:01 — the reminder goes"
"$WAYMARK" local tick --now 2026-11-23T11:01:00Z >/dev/null
"$WAYMARK" local outbox
