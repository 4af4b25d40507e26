#!/bin/sh
# Waits for the controller's first validated exabgp.conf on the shared volume, then becomes exabgp.
# Both containers start together; exabgp refuses a missing or empty config, so starting it any earlier only
# produces a crash loop.
set -eu
config="${PORTABLE_LB_EXABGP_CONFIG:-/run/portable-lb/exabgp.conf}"
waited=0
until [ -s "$config" ] && grep -q '^neighbor ' "$config"; do
  if [ $((waited % 30)) -eq 0 ]; then
    echo "waiting for $config (BGP is off until the tuning lists bgp.peers)" >&2
  fi
  sleep 1
  waited=$((waited + 1))
done
exec exabgp "$config"
