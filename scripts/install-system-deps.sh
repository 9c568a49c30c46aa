#!/usr/bin/env bash
# Installs the Debian packages the tests use, skipping what is already there. Idempotent.
#   magic-wormhole                         the real `wormhole` CLI (interop tests)
#   python3-magic-wormhole-mailbox-server  the real Python mailbox server (interop tests, benchmarks)
#   python3-spake2                         python-spake2 (regenerating vectors)
#   chromium                               real browser for the browser adapter tests (playwright-core)
#   coturn                                 a real TURN server for the relay-only WebRTC test
#   iproute2                               `ip netns`: WebRTC tests run in network namespaces they create
#   redis-server                           a real Redis: two relays sharing one store (scale-out test)
#   wormhole-william                       the Go magic-wormhole CLI (file transfer interop tests)
#   magic-wormhole-transit-relay           the real transit relay (file transfer interop tests)
set -euo pipefail

packages=(magic-wormhole python3-magic-wormhole-mailbox-server python3-spake2 chromium coturn iproute2 redis-server wormhole-william magic-wormhole-transit-relay)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${packages[*]})"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}"
