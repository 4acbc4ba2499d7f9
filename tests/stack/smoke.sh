#!/usr/bin/env bash
# The local-stack contract, checked from outside as a user would use it:
# `make dev`, signed webhooks over HTTP, `make tick`, `make outbox`, a forged
# HMAC, `make down`. Runs on its own ports and state so a developer's
# `make dev` is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
export MOTO_PORT=4577 FUNCTIONS_PORT=9077 WAYMARK_CONTROL=127.0.0.1:9078 STATE_DIR=.local/smoke
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
source tests/stack/env.sh
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
trap 'make --no-print-directory down STATE_DIR=$STATE_DIR >/dev/null 2>&1 || true' EXIT

make --no-print-directory dev >/dev/null
# `cargo lambda invoke` as the README writes it (its default address, [::1],
# which the runner forwards to the functions' IPv4 port), on the smoke port.
invoke() { PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda invoke --invoke-port "$FUNCTIONS_PORT" "$@" 2>&1; }
url="$FUNCTIONS/lambda-url/ingest/shopify"
"$WAYMARK" local webhook checkouts/create events/shopify/checkouts_create.json --url "$url" --webhook-id smoke-1 >/dev/null

body=$(cat events/shopify/checkouts_create.json)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url" \
  -H 'x-shopify-topic: checkouts/create' -H 'x-shopify-shop-domain: demo.myshopify.com' \
  -H 'x-shopify-webhook-id: smoke-forged' -H 'x-shopify-hmac-sha256: AAAA' --data-binary "$body")
[ "$code" = 401 ] || fail "forged HMAC answered $code, expected 401"

make --no-print-directory tick NOW=2026-11-23T10:59:00Z >/dev/null
out=$(make --no-print-directory outbox)
grep -q "no emails accepted yet" <<<"$out" || fail "an email before the hour: $out"

make --no-print-directory tick NOW=2026-11-23T11:01:00Z >/dev/null
out=$(make --no-print-directory outbox)
[ "$(grep -c '^Subject:' <<<"$out")" = 1 ] || fail "expected exactly one email: $out"
grep -q "Subject: Ana, you left something in your cart" <<<"$out" || fail "wrong subject: $out"
grep -q "2 × Trail Socks (3-pack) (M) — €18.50" <<<"$out" || fail "items missing: $out"

# The email's List-Unsubscribe URL answers the one-click POST (RFC 8058).
unsub=$("$WAYMARK" local outbox --json | python3 -c '
import json, re, sys
mail = json.load(sys.stdin)[0]
header = dict((k.lower(), v) for k, v in mail["headers"])["list-unsubscribe"]
print(re.search(r"<(http[^>]+)>", header).group(1))')
page=$(curl -s "$unsub") || fail "preference page not served"
grep -q "Unsubscribe from all" <<<"$page" || fail "preference page: $page"
# The one-click POST itself goes as the Function URL delivers it, received at
# the scenario's time (requestContext.timeEpoch): the link was signed when the
# email went (2026-11-23) and expires 90 days later, whatever today is.
one_click=$(python3 - "$unsub" <<'PY'
import json, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
path = url.path.removeprefix("/lambda-url/preferences")
token = urllib.parse.parse_qs(url.query)["t"][0]
print(json.dumps({
    "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": url.query,
    "queryStringParameters": {"t": token},
    "headers": {"content-type": "application/x-www-form-urlencoded"},
    "requestContext": {"http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                "sourceIp": "127.0.0.1", "userAgent": "smoke"},
                       "timeEpoch": 1795431900000},  # 2026-11-23T11:05:00Z
    "body": "List-Unsubscribe=One-Click", "isBase64Encoded": False}))
PY
)
out=$(invoke preferences --data-ascii "$one_click") || fail "one-click unsubscribe: $out"
grep -q '"statusCode":200' <<<"${out// /}" || fail "one-click unsubscribe answered: $out"
grep -q "You are unsubscribed" <<<"$out" || fail "one-click unsubscribe page: $out"
make --no-print-directory tick NOW=2026-12-31T00:00:00Z >/dev/null
[ "$(make --no-print-directory outbox | grep -c '^Subject:')" = 1 ] || fail "an email after the unsubscribe"

# SES feedback, fed locally as the README says.
out=$(invoke feedback --data-file events/feedback-bounce.json) || fail "cargo lambda invoke feedback: $out"
grep -qi "suppress" <<<"$out" || fail "the bounce was not handled: $out"

# Storefront tracking over HTTP: the snippet is served, a preflight from the
# allowed origin passes, a batch is accepted, another origin is refused.
track="$FUNCTIONS/lambda-url/ingest/track"
# (Read the whole body first: with pipefail, `curl | grep -q` fails when grep
# stops reading early and curl gets SIGPIPE.)
snippet=$(curl -sf "$FUNCTIONS/lambda-url/ingest/waymark.js") || fail "snippet not served"
grep -q "waymark.product" <<<"$snippet" || fail "snippet without its API"
headers=$(curl -s -D - -o /dev/null -X OPTIONS "$track" -H 'origin: http://127.0.0.1:8080' \
  -H 'access-control-request-method: POST')
grep -qE '^HTTP/[0-9.]+ 204' <<<"$headers" || fail "preflight: $headers"
grep -qi '^access-control-allow-origin: http://127.0.0.1:8080' <<<"$headers" || fail "preflight without CORS: $headers"
# Another origin gets no CORS permission, preflight or not (the function's
# own answer, not the dev server's).
headers=$(curl -s -D - -o /dev/null -X OPTIONS "$track" -H 'origin: https://evil.example' \
  -H 'access-control-request-method: POST')
! grep -qi '^access-control-allow' <<<"$headers" || fail "a foreign preflight got CORS headers: $headers"
batch='{"key":"wk_local_demo","batch":[{"type":"page_viewed","id":"smoke-p1","anonymous_id":"smoke-a1","page_type":"pricing"}]}'
out=$(curl -s -X POST "$track" -H 'origin: http://127.0.0.1:8080' -H 'content-type: text/plain' --data-binary "$batch")
grep -q '"accepted":1' <<<"$out" || fail "track batch: $out"
headers=$(curl -s -D - -o /dev/null -X POST "$track" -H 'origin: https://evil.example' --data-binary "$batch")
grep -qE '^HTTP/[0-9.]+ 403' <<<"$headers" || fail "a foreign origin answered: $headers"
! grep -qi '^access-control-allow' <<<"$headers" || fail "a refused origin got CORS headers: $headers"
echo "smoke: 15 passed, 0 failed"
