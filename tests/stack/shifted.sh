#!/usr/bin/env bash
# Runs a command under a wall clock shifted by OFFSET (libfaketime, from the
# project's .venv), so a test that secretly reads today's date fails here
# instead of on some future morning. Monotonic clocks are left real (timeouts
# and tokio timers behave). Usage:
#   tests/stack/shifted.sh +365d cargo test …   (or -365d, or "@2031-01-01 00:00:00")
# Also usable as cargo's target runner, so cargo itself keeps the real clock
# and only the test binaries see the shift (the moto they start keeps the
# real clock, as AWS would; see tests/local/src/moto.rs):
#   CARGO_TARGET_<TRIPLE>_RUNNER="tests/stack/shifted.sh +365d" cargo test …
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
offset="${1:?usage: shifted.sh OFFSET COMMAND [ARGS…]}"
shift
venv="${VENV:-$root/.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac

lib() { # the libfaketime shared object: the wheel's, or built from its vendored source
  local src
  src="$("$venv/bin/python" -c 'import importlib.util, os; s = importlib.util.find_spec("libfaketime"); print(os.path.join(os.path.dirname(s.origin), "vendor", "libfaketime", "src"))')"
  if works "$src/libfaketime.so.1"; then echo "$src/libfaketime.so.1"; return; fi
  # The wheel's binary is x86-64; elsewhere build it once from the same source.
  local out="$root/.local/faketime"
  if ! works "$out/libfaketime.so.1"; then
    mkdir -p "$out" && cp -r "$src/." "$out/"
    make -s -C "$out" libfaketime.so.1 >&2
  fi
  echo "$out/libfaketime.so.1"
}
works() { # the library loads and really moves the clock
  [ -f "$1" ] || return 1
  local year
  year="$(LD_PRELOAD="$1" FAKETIME="@2001-02-03 04:05:06" date -u +%Y 2>/dev/null)" || return 1
  [ "$year" = 2001 ]
}

so="$(lib)"
export LD_PRELOAD="$so${LD_PRELOAD:+:$LD_PRELOAD}"
export FAKETIME="$offset" DONT_FAKE_MONOTONIC=1 FAKETIME_NO_CACHE=1
exec "$@"
