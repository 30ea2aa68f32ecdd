#!/usr/bin/env bash
# make run: mock-core and the daemon on the development config; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
chmod 600 dev/fluxrelay.toml dev/dev-core.secret   # git checks files out world-readable
bin/fluxrelay mock-core --listen 127.0.0.1:18099 --api-key FXK_dev_key --api-secret-file dev/dev-core.secret &
mock=$!
trap 'kill "$mock" 2>/dev/null; wait "$mock" 2>/dev/null || true' EXIT
trap 'true' INT TERM   # Ctrl-C reaches both programs; this script just waits for them
sleep 0.3
cat <<'MSG'

fluxrelay is starting on the development config. In another terminal, send a payment:

  curl -s -X POST http://127.0.0.1:18088/notify/till -H 'Content-Type: application/json' \
       -d '{"transactionRef":"DEV-0001","amount":"1500.50","paymentMethod":"CARD"}'

mock-core prints it here, signed and delivered. Status: curl -s http://127.0.0.1:18089/api/status
Ctrl-C stops both.

MSG
bin/fluxrelay run -c dev/fluxrelay.toml
