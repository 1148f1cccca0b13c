#!/usr/bin/env bash
# The end-to-end demo behind `make demo`: start a dev host on an embedded
# default (SQLite, builtin embedder), then make a signed tool call as the demo
# agent, verify the host's receipt, show the audit trail and verify the log.
set -euo pipefail
BIN=${BIN:-bin/airlock}
DEMO_DIR=${DEMO_DIR:-build/demo}
DATA="$DEMO_DIR/data"
LOG="$DEMO_DIR/serve.log"
mkdir -p "$DEMO_DIR"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# a free loopback port
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
ADDR="127.0.0.1:$PORT"

step "Starting airlock serve --dev (data in $DATA, listening on $ADDR)"
"$BIN" serve --dev --data "$DATA" --listen "$ADDR" --plugins build/plugins >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap cleanup EXIT

for _ in $(seq 1 900); do # up to 3 minutes on a loaded machine (six modules to compile)
  if grep -q "listening on" "$LOG" 2>/dev/null; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$LOG"; echo "demo: server exited" >&2; exit 1; fi
  sleep 0.2
done
grep -q "listening on" "$LOG" || { cat "$LOG"; echo "demo: server did not start" >&2; exit 1; }
grep -E '^(airlock|dev:)' "$LOG" | sed 's/^/   /'

step "Host identity (GET /v1/host)"
curl -fsS "http://$ADDR/v1/host" | python3 -m json.tool 2>/dev/null | sed 's/^/   /' || curl -fsS "http://$ADDR/v1/host"

step "Agent signs an intent for echo/echo with its grant; the host checks proof, grant, schema, runs the tool in a fresh sandbox"
"$BIN" invoke --verbose --host "http://$ADDR" --key "$DATA/dev/agent.key" --grant "$DATA/dev/grant.jws" \
  echo/echo '{"message":"hello from a sandboxed tool"}' 2>&1 | sed 's/^/   /'

step "A tool the grant does not list is refused (forbidden), and the refusal is audited"
"$BIN" invoke --host "http://$ADDR" --key "$DATA/dev/agent.key" --grant "$DATA/dev/grant.jws" \
  files/read '{"path":"x"}' 2>&1 | sed 's/^/   /' || true

step "Input that breaks the tool's schema is refused (schema_violation)"
"$BIN" invoke --host "http://$ADDR" --key "$DATA/dev/agent.key" --grant "$DATA/dev/grant.jws" \
  echo/echo '{"message":42}' 2>&1 | sed 's/^/   /' || true

step "Any MCP client gets the same tools: the official Go SDK's client starts \`airlock mcp\` on stdio, lists the grant's tools and calls one (a signed intent, receipt verified)"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MCPCLIENT="$(cd "$DEMO_DIR" && pwd)/mcpclient"
(cd "$REPO" && go build -o "$MCPCLIENT" ./examples/demo/mcpclient)
"$MCPCLIENT" -call echo.echo -args '{"message":"hello over MCP"}' -- \
  "$BIN" mcp --host "http://$ADDR" --key "$DATA/dev/agent.key" --grant "$DATA/dev/grant.jws" 2>&1 | sed 's/^/   /'

step "Audit trail as the operator sees it (GET /v1/audit, operator-signed)"
"$BIN" audit tail --host "http://$ADDR" --key "$DATA/dev/operator.key" --limit 20 2>&1 \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); [print("   #%d %-8s %-9s %-6s %-12s %s" % (e["index"], e["action"], e["tool"] or "-", e["decision"], e["actor"][:20]+"…", e["reason"])) for e in d["entries"]]' \
  2>/dev/null || "$BIN" audit tail --host "http://$ADDR" --key "$DATA/dev/operator.key"

step "Stopping the host (SIGTERM drains) and verifying the audit log offline"
cleanup
trap - EXIT
"$BIN" audit verify --data "$DATA" | sed 's/^/   /'

step "Done. Data left in $DATA; run it again with: make demo"
