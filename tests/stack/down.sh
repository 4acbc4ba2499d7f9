#!/usr/bin/env bash
# `make down`: stops what `make dev` started (each in its own process group).
set -uo pipefail
cd "$(dirname "$0")/../.."
source tests/stack/env.sh
for name in runner watch moto; do
  f="$STATE_DIR/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
  echo "down: stopped $name"
done
