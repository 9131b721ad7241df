#!/usr/bin/env bash
# kcat compatibility suite: a Kafka client that is not franz-go (Debian's
# kcat, built on librdkafka) against `connector demo --keep-running`.
#
#   bash test/kcat/run.sh            (from anywhere; needs go and bash; installs kcat with apt-get if missing)
#
# Builds ./cmd/connector, starts the demo on two free loopback ports, and
# once its summary is out uses only kcat to: list the topics; produce
# account upserts (envelope format, some invalid) to crm.accounts and then
# contacts (json format) that name those accounts by external id to
# crm.contacts; read bulkstream.success and bulkstream.failure
# (read_committed) until every key has a result; and check each key has
# exactly one result, on the expected topic with the expected error code,
# and that each failure has a dead-letter copy carrying the
# __connect.errors.* headers and the original record's header. Finally it
# stops the demo with SIGTERM and expects exit 0. Prints
# "kcat suite: N passed, M failed" and exits 1 if any check failed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ACCOUNTS="${KCAT_ACCOUNTS:-50}" # account upserts produced with kcat
CONTACTS=10                      # contact upserts, naming accounts KCAT-1..10
TIMEOUT=60                       # seconds to wait for the demo, and then for the results

source "$SCRIPT_DIR/../lib.sh"
lib_work_dir kcat-compat demo.log

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

if ! command -v kcat >/dev/null; then
  echo "==> installing kcat"
  apt-get update -qq && apt-get install -y -qq kcat
fi
echo "==> $(kcat -V 2>&1 | grep -m1 -o 'Version [0-9.]*' | sed 's/Version/kcat/') ($(kcat -V 2>&1 | grep -m1 -o 'librdkafka [0-9.]*'))"

lib_build

KPORT="$(free_port)"
SPORT="$(free_port)"
while [[ "$SPORT" == "$KPORT" ]]; do SPORT="$(free_port)"; done
B="127.0.0.1:$KPORT"

echo "==> connector demo --keep-running on Kafka $B, Salesforce 127.0.0.1:$SPORT (log: $LOG)"
"$BIN" demo --keep-running --events 500 --kafka-addr "$B" --salesforce-addr "127.0.0.1:$SPORT" \
  --metrics-addr 127.0.0.1:0 >"$LOG" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 $((TIMEOUT * 5))); do
  grep -q '^Everything stays up' "$LOG" && break
  if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    echo "the demo exited before its summary" >&2
    exit 1
  fi
  sleep 0.2
done
grep -q '^Everything stays up' "$LOG" || { echo "no summary from the demo within ${TIMEOUT}s" >&2; exit 1; }
grep -q 'exactly one per event' "$LOG" && pass || fail "the demo's own events do not have exactly one result each"

echo "==> kcat -L"
META="$(kcat -b "$B" -L -m 10)"
for t in crm.accounts crm.contacts bulkstream.success bulkstream.failure bulkstream.dlq; do
  grep -q "topic \"$t\" with" <<<"$META" && pass || fail "metadata lists no topic $t"
done
grep -q 'topic "crm.accounts" with 4 partitions' <<<"$META" && pass || fail "crm.accounts has not 4 partitions"

# expect[key]=topic[:errorCode]; the value produced for key decides it.
declare -A expect
RUN_ID="kcat-$$"

# account_line prints "KCAT-n<TAB>envelope" for account n and records in
# expect[] what its result must be: every 10th account from the 3rd lacks
# Name, from the 7th is cut short, from the 9th has a number that is not
# one. Call it with a redirection, not in $( ), so that expect[] is set in
# this shell.
account_line() {
  local n=$1 id="KCAT-$1"
  printf '%s\t' "$id"
  case $((n % 10)) in
    3) expect[$id]="bulkstream.failure:REQUIRED_FIELD_MISSING"
       printf '{"object":"Account","operation":"upsert","externalIdField":"External_Id__c","fields":{"External_Id__c":"%s","Industry":"Retail"}}\n' "$id" ;;
    7) expect[$id]="bulkstream.failure:BULKSTREAM_DECODE"
       printf '{"object":"Account","operation":"upsert","fields":{"External_Id__c":"%s","Name":"Cut\n' "$id" ;;
    9) expect[$id]="bulkstream.failure:INVALID_FIELD"
       printf '{"object":"Account","operation":"upsert","externalIdField":"External_Id__c","fields":{"External_Id__c":"%s","Name":"Kcat %d","NumberOfEmployees":"lots"}}\n' "$id" "$n" ;;
    *) expect[$id]="bulkstream.success"
       printf '{"object":"Account","operation":"upsert","externalIdField":"External_Id__c","fields":{"External_Id__c":"%s","Name":"Kcat %d","AnnualRevenue":%d,"Website":"https://kcat-%d.example"}}\n' "$id" "$n" "$((n * 1000))" "$n" ;;
  esac
}

# contact_line prints "KCAT-C-n<TAB>json" for contact n, whose account is
# KCAT-n: it exists unless the account's own upsert failed (INVALID_FIELD).
# Call it with a redirection, as account_line.
contact_line() {
  local n=$1 id="KCAT-C-$1"
  if [[ "${expect[KCAT-$n]}" == bulkstream.success ]]; then
    expect[$id]="bulkstream.success"
  else
    expect[$id]="bulkstream.failure:INVALID_FIELD"
  fi
  printf '%s\t{"External_Id__c":"%s","FirstName":"Kay","LastName":"Cat %d","Email":"kay.cat%d@kcat.example","Account.External_Id__c":"KCAT-%d"}\n' "$id" "$id" "$n" "$n" "$n"
}

# produce writes key<TAB>value lines from stdin to topic $1: idempotent,
# lz4-compressed, with a header naming this run.
produce() {
  kcat -b "$B" -P -t "$1" -K $'\t' -z lz4 -X enable.idempotence=true -H "bulkstream.test=$RUN_ID"
}

# read_results writes "topic<TAB>key<TAB>value" of every KCAT-* result to $1.
read_results() {
  : >"$1"
  for t in bulkstream.success bulkstream.failure; do
    kcat -b "$B" -C -t "$t" -e -q -X isolation.level=read_committed -f "$t\t%k\t%s\n" | grep -a $'\tKCAT-' >>"$1" || true
  done
}

# wait_for_keys reads results until every key in $@ has one, or TIMEOUT.
wait_for_keys() {
  local deadline=$((SECONDS + TIMEOUT)) missing
  while :; do
    read_results "$WORK_DIR/results"
    missing=0
    for k in "$@"; do
      grep -q $'\t'"$k"$'\t' "$WORK_DIR/results" || missing=$((missing + 1))
    done
    [[ $missing -eq 0 ]] && return 0
    if [[ $SECONDS -ge $deadline ]]; then
      echo "after ${TIMEOUT}s, $missing of $# keys have no result" >&2
      return 0
    fi
    sleep 0.5
  done
}

echo "==> kcat -P: $ACCOUNTS account upserts to crm.accounts"
account_keys=()
for n in $(seq 1 "$ACCOUNTS"); do
  account_keys+=("KCAT-$n")
  account_line "$n" >>"$WORK_DIR/accounts"
done
produce crm.accounts <"$WORK_DIR/accounts"
wait_for_keys "${account_keys[@]}"

echo "==> kcat -P: $CONTACTS contact upserts to crm.contacts"
contact_keys=()
for n in $(seq 1 "$CONTACTS"); do
  contact_keys+=("KCAT-C-$n")
  contact_line "$n" >>"$WORK_DIR/contacts"
done
produce crm.contacts <"$WORK_DIR/contacts"
wait_for_keys "${account_keys[@]}" "${contact_keys[@]}"

echo "==> kcat -C: bulkstream.dlq headers"
# A header value may span lines (__connect.errors.exception.stacktrace, as
# Kafka Connect writes it): each record ends with a marker, and the line
# breaks inside it become spaces.
kcat -b "$B" -C -t bulkstream.dlq -e -q -f '%k\t%h@@END@@\n' | tr '\n' ' ' | sed 's/@@END@@ /\n/g' | grep -a '^KCAT-' >"$WORK_DIR/dlq" || true

# check_key checks the one result of key $1 and, for a failure, its
# dead-letter copy.
check_key() {
  local key=$1 want=${expect[$1]} lines topic code source
  lines="$(grep -a -c $'\t'"$key"$'\t' "$WORK_DIR/results" || true)"
  if [[ "$lines" -ne 1 ]]; then
    fail "$key: $lines results, want exactly 1"
    return
  fi
  topic="$(grep -a $'\t'"$key"$'\t' "$WORK_DIR/results" | cut -f1)"
  code="$(grep -a $'\t'"$key"$'\t' "$WORK_DIR/results" | grep -ao '"errorCode":"[^"]*"' | cut -d'"' -f4)"
  source="$(grep -a $'\t'"$key"$'\t' "$WORK_DIR/results" | grep -ao '"source":{"topic":"[^"]*"' | cut -d'"' -f6)"
  local got="$topic${code:+:$code}"
  if [[ "$got" != "$want" ]]; then
    fail "$key: result on $got, want $want"
    return
  fi
  local from=crm.accounts
  [[ "$key" == KCAT-C-* ]] && from=crm.contacts
  if [[ "$source" != "$from" ]]; then
    fail "$key: result names source topic '$source', want $from"
    return
  fi
  if [[ "$topic" == bulkstream.failure ]]; then
    local dlq
    dlq="$(grep -a "^$key"$'\t' "$WORK_DIR/dlq" || true)"
    if [[ "$(grep -c . <<<"$dlq")" -ne 1 ]] || ! grep -q "__connect.errors.topic=$from" <<<"$dlq" ||
      ! grep -q "sf.error.code=$code" <<<"$dlq" || ! grep -q "bulkstream.test=$RUN_ID" <<<"$dlq"; then
      fail "$key: dead-letter copy missing or without the expected headers: '$dlq'"
      return
    fi
  fi
  pass
}

echo "==> checking $((${#account_keys[@]} + ${#contact_keys[@]})) keys"
for k in "${account_keys[@]}" "${contact_keys[@]}"; do check_key "$k"; done

METRICS="$(sed -n 's/^  metrics *\(http:[^ ]*\).*/\1/p' "$LOG")"
if command -v curl >/dev/null && [[ -n "$METRICS" ]]; then
  # Read whole first: grep -q stops reading at its match, and curl, cut off,
  # would fail the pipe.
  curl -sf "$METRICS" -o "$WORK_DIR/metrics" && grep -q '^bulkstream_results_total' "$WORK_DIR/metrics" && pass || fail "no results counter at $METRICS"
fi

echo "==> SIGTERM to the demo"
kill -TERM "$SERVICE_PID"
set +e
wait "$SERVICE_PID"
DEMO_STATUS=$?
set -e
SERVICE_PID=""
[[ $DEMO_STATUS -eq 0 ]] && pass || fail "the demo exited $DEMO_STATUS after SIGTERM, want 0"

echo "kcat suite: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
