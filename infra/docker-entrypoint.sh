#!/bin/bash
# The image's entry point: assembles the configuration file from parts, then
# runs `accord` with the given arguments.
#
#   ACCORD_CONFIG_PARTS   colon-separated TOML files, concatenated in order
#                         (e.g. a node's settings, then the shared join keys)
#   ACCORD_JOIN_KEYS_TOML the join-token keys as a TOML fragment (what the
#                         Terraform secret join-keys-toml holds), appended
#
# With either set, the result is written to /run/accord/accord.toml (mode
# 0600) and used as the configuration file; with neither, ACCORD_CONFIG or
# the environment (ACCORD__SECTION__KEY) configure accord as usual.
set -euo pipefail

if [ -n "${ACCORD_CONFIG_PARTS:-}" ] || [ -n "${ACCORD_JOIN_KEYS_TOML:-}" ]; then
  out="${ACCORD_RUNTIME_DIR:-/run/accord}/accord.toml"
  umask 077
  : >"$out"
  if [ -n "${ACCORD_CONFIG_PARTS:-}" ]; then
    IFS=: read -r -a parts <<<"$ACCORD_CONFIG_PARTS"
    for part in "${parts[@]}"; do
      [ -r "$part" ] || { echo "accord-entrypoint: cannot read $part (ACCORD_CONFIG_PARTS)" >&2; exit 1; }
      cat "$part" >>"$out"
      printf '\n' >>"$out"
    done
  fi
  if [ -n "${ACCORD_JOIN_KEYS_TOML:-}" ]; then
    printf '%s\n' "$ACCORD_JOIN_KEYS_TOML" >>"$out"
  fi
  unset ACCORD_JOIN_KEYS_TOML
  export ACCORD_CONFIG="$out"
fi

# ACCORD_BIN: another accord binary (scripts/lint-infra runs this script
# against a freshly built one).
exec "${ACCORD_BIN:-/usr/local/bin/accord}" "$@"
