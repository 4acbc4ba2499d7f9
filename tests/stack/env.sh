# The local stack's configuration (sourced by the scripts; documented in the
# README). Functions see only standard AWS variables plus their own settings.
MOTO_PORT="${MOTO_PORT:-4566}"
FUNCTIONS_PORT="${FUNCTIONS_PORT:-9000}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:$MOTO_PORT}"
FUNCTIONS="http://127.0.0.1:$FUNCTIONS_PORT"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export TABLE_NAME="${TABLE_NAME:-waymark}"
export SHOPIFY_WEBHOOK_SECRET="${SHOPIFY_WEBHOOK_SECRET:-waymark-local-secret}"
export SENDER_EMAIL="${SENDER_EMAIL:-store@example.com}"
export SENDER_NAME="${SENDER_NAME:-Demo Store}"
# Storefront tracking: the demo key, from a local storefront page; any event
# time is accepted so recorded timelines replay (production: 24h of skew).
export WAYMARK_TRACK_KEYS="${WAYMARK_TRACK_KEYS:-wk_local_demo:demo.myshopify.com:http://127.0.0.1:8080,http://localhost:8080}"
export WAYMARK_TRACK_MAX_SKEW="${WAYMARK_TRACK_MAX_SKEW:-off}"
export UNSUBSCRIBE_SECRET="${UNSUBSCRIBE_SECRET:-waymark-local-unsubscribe-secret}"
export COUPON_SECRET="${COUPON_SECRET:-waymark-local-coupon-secret}"
# Where `make dev` keeps the three secrets above as SSM SecureStrings; the
# functions it serves read them there (the template's SecretsPath).
SECRETS_PATH="${SECRETS_PATH:-/waymark}"
export PREFERENCES_URL="${PREFERENCES_URL:-http://127.0.0.1:${FUNCTIONS_PORT}/lambda-url/preferences}"
export WAYMARK_CONTROL="${WAYMARK_CONTROL:-127.0.0.1:9001}"
# The timer fires one contact at a time here (16 in AWS): moto applies
# concurrent transactions unsafely and answers 500 when two interleave.
export WAYMARK_TIMER_IN_FLIGHT="${WAYMARK_TIMER_IN_FLIGHT:-1}"
# The campaign page queue `waymark local up` creates (moto's account).
export CAMPAIGN_PAGES_URL="${CAMPAIGN_PAGES_URL:-$AWS_ENDPOINT_URL/123456789012/CampaignPages}"
# The facts' Firehose streams (moto writes them to the bucket `factsbucket`).
export FACTS_COUNTERS_STREAM="${FACTS_COUNTERS_STREAM:-CounterFacts}"
export FACTS_EVENTS_STREAM="${FACTS_EVENTS_STREAM:-EventFacts}"
export RUST_LOG="${RUST_LOG:-info}"
STATE_DIR="${STATE_DIR:-.local}"
VENV="${VENV:-.venv}"
WAYMARK="${WAYMARK:-target/debug/waymark}"
