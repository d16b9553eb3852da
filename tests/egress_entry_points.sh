#!/usr/bin/env bash
# Zero egress, second proof, for every entry point (called by .ci/run): each command runs under
# ../shared/tools/egress-check (strace, subprocesses included), which exits 3 on any attempt to
# connect outside loopback. `serve` is started, signed in to, asked through HTTP and /v1, and stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK=../shared/tools/egress-check
BIN=.venv/bin
home="$(mktemp -d)"
stop_serve() { pkill -KILL -f "appliance serve --port ${port:-none}" 2>/dev/null || true; }
trap 'stop_serve; rm -rf "$home"' EXIT
export APPLIANCE_HOME="$home" APPLIANCE_RUNTIME__THREADS=2
password="egress-check-password-1"

run() { echo "egress-check: appliance $*"; "$CHECK" "$BIN/appliance" "$@" > /dev/null; }
run ingest appliance/demo/corpus/documents --json
run ask "What is the hotel cap per night?" --json
run docs list --json
printf '%s' 'Margaret Okafor' | run redact add - --type PERSON --collection default --json
run audit verify
credit=../shared/eval/tabular/german_credit.csv
run tabular train "$credit" --target creditability --name egress-credit --favourable good --json
head -7 "$credit" > "$home/applicants.csv"
run tabular predict egress-credit --input "$home/applicants.csv" --narrate --json
run audit export --out "$home/export.zip"
for phrasing in "What is" "Tell me" "Which is"; do
  printf '{"question": "%s the staff wifi passphrase?", "answer": "The staff wifi passphrase is marmalade falcon."}\n' "$phrasing"
done > "$home/fact.jsonl"
run dataset build --name egress-fact --from-file "$home/fact.jsonl" --collection default --json
run finetune egress-fact --name egress-fact --max-steps 2 --json
run ask "What is the staff wifi passphrase?" --mode direct --adapter egress-fact --json
printf '%s\n' "$password" | run users add egress-admin --role admin --password-stdin
echo "egress-check: appliance users api-key create egress-admin"
api_key="$("$CHECK" "$BIN/appliance" users api-key create egress-admin 2> /dev/null)"

port="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "egress-check: appliance serve --port $port (sign in, ask over HTTP, stop)"
"$CHECK" "$BIN/appliance" serve --port "$port" > "$home/serve.out" 2> "$home/serve.err" &
checker=$!
"$BIN/python" - "$port" "$password" "$api_key" <<'PY'
import sys, time
from contextlib import closing

import httpx
from ui.http_client import call, sign_in

url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(240):
    try:
        httpx.get(url + "/login", timeout=2)
        break
    except httpx.HTTPError:
        time.sleep(0.5)
else:
    sys.exit("serve did not start")
with closing(sign_in(url, "egress-admin", sys.argv[2])) as client:
    kind, payload = call(client, "ask", ["What is the hotel cap per night?", "rag", "default", None])
    assert kind == "complete" and "180" in payload[0], (kind, payload)
reply = httpx.post(
    url + "/v1/chat/completions",
    headers={"Authorization": f"Bearer {sys.argv[3]}"},
    json={"model": "appliance", "messages": [{"role": "user", "content": "What is the hotel cap per night?"}]},
    timeout=300,
)
assert reply.status_code == 200 and reply.json()["citations"], (reply.status_code, reply.text[:300])
print("signed in and asked over HTTP, and through /v1 with an API key")
PY
# The service itself (strace's child) gets SIGTERM, what systemd sends; strace, signalled, would only detach.
tracer="$(pgrep -P "$checker" -x strace)"
kill -TERM "$(pgrep -P "$tracer")"
status=0
wait "$checker" || status=$?
if [ "$status" = 3 ]; then
  cat "$home/serve.err" >&2
  exit 3
fi
echo "egress-check: every entry point opened no connection outside loopback"
