#!/usr/bin/env bash
# Runs the Salesforce CLI (sf) bulk commands against a freshly built emulator.
#
#   bash test/sfcli/run.sh            (from anywhere; needs go, node >= 20, npm, curl, python3)
#
# Installs @salesforce/cli from package-lock.json (npm ci; undici is
# overridden to 7.x, without which the CLI crashes at start on Node 20),
# builds ./cmd/connector, starts `connector emulator` on a free loopback
# port, logs in with `sf org login access-token`, then runs `sf data import
# bulk`, `upsert bulk`, `bulk results`, `export bulk` and `delete bulk`,
# checking each one's exit code and records. HOME and the CLI's state live
# in a temporary directory that is removed on exit. CONNECTOR_BIN=path uses
# a connector binary built before instead of building one; SKIP_NPM=1 reuses
# test/sfcli/node_modules as it is.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SCRIPT_DIR/../lib.sh"
lib_work_dir sfcli-compat emulator.log

echo "==> npm ci (test/sfcli)"
[[ -n "${SKIP_NPM:-}" ]] || (cd "$SCRIPT_DIR" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)

if [[ -n "${CONNECTOR_BIN:-}" ]]; then
  BIN="$CONNECTOR_BIN"
else
  lib_build
fi
lib_start_emulator

# The CLI keeps its auth files, config, logs and caches under HOME (and
# XDG directories); all of them go to the work directory.
export HOME="$WORK_DIR/home" XDG_CONFIG_HOME="$WORK_DIR/home/.config" XDG_DATA_HOME="$WORK_DIR/home/.local/share" XDG_CACHE_HOME="$WORK_DIR/home/.cache"
mkdir -p "$HOME"
export SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true SF_HIDE_RELEASE_NOTES=true SF_SKIP_NEW_VERSION_CHECK=true \
  SF_USE_GENERIC_UNIX_KEYCHAIN=true SF_DISABLE_DNS_CHECK=true SF_LOG_LEVEL=warn
export PATH="$SCRIPT_DIR/node_modules/.bin:$PATH"
DATA="$WORK_DIR/data"
mkdir -p "$DATA"
cd "$DATA"

failures=0
# sfrun NAME WANT_EXIT ARGS...: runs `sf ARGS --json`, keeps its JSON in
# $DATA/NAME.json and fails the step when the exit code is not WANT_EXIT.
sfrun() {
  local name=$1 want=$2
  shift 2
  local got=0
  sf "$@" --json >"$DATA/$name.json" 2>"$DATA/$name.err" || got=$?
  if [[ $got -ne $want ]]; then
    echo "FAIL $name: sf $* exited $got, want $want" >&2
    cat "$DATA/$name.json" "$DATA/$name.err" >&2
    failures=$((failures + 1))
    return 1
  fi
}
# check NAME PYTHON: evaluates PYTHON with r = the JSON result of step NAME
# (its "result", or the whole error object for a failed command) and files
# = the CSV files of the data directory read as lists of dicts.
check() {
  local name=$1 expr=$2
  if python3 - "$DATA/$name.json" "$expr" <<'PY'
import csv, glob, json, os, sys
doc = json.load(open(sys.argv[1]))
r = doc.get("result", doc)
def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print(json.dumps(doc, indent=1)[:3000], file=sys.stderr)
    for path in sorted(glob.glob("*.csv")) + sorted(glob.glob("*.json")):
        print("--", path, open(path).read()[:1000], sep="\n", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
  then
    echo "ok   $name"
  else
    echo "FAIL $name: $expr" >&2
    failures=$((failures + 1))
  fi
}

TOKEN="$(curl -sf -X POST "$URL/services/oauth2/token" -d grant_type=client_credentials -d client_id=bulkstream -d client_secret=bulkstream |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

echo "==> sf org login access-token"
SF_ACCESS_TOKEN="$TOKEN" sfrun login 0 org login access-token --instance-url "$URL" --no-prompt --alias emu &&
  check login 'r["username"] == "emulator@bulkstream.example" and r["orgId"].startswith("00D")'

echo "==> sf data import bulk (insert 3 Accounts)"
printf 'Name,External_Id__c,NumberOfEmployees\nAcme,A-1,10\nGlobex,A-2,20\nInitech,A-3,30\n' >accounts.csv
sfrun import 0 data import bulk --file accounts.csv --sobject Account --target-org emu --wait 5 &&
  check import 'r["processedRecords"] == 3 and r["successfulRecords"] == 3 and r["failedRecords"] == 0'

echo "==> sf data upsert bulk (one update, one insert)"
printf 'External_Id__c,Name\nA-2,Globex Corp\nA-4,Umbrella\n' >upsert.csv
sfrun upsert 0 data upsert bulk --file upsert.csv --sobject Account --external-id External_Id__c --target-org emu --wait 5 &&
  check upsert 'r["jobInfo"]["state"] == "JobComplete" and r["jobInfo"]["numberRecordsProcessed"] == 2 and r["jobInfo"]["numberRecordsFailed"] == 0
    and sorted((x["External_Id__c"], x["sf__Created"]) for x in r["records"]["successfulResults"]) == [("A-2", "false"), ("A-4", "true")]'

echo "==> sf data upsert bulk (a row without its required Name fails: exit 1)"
printf 'External_Id__c,Name\nA-5,Hooli\nA-6,\n' >upsert-bad.csv
sfrun upsert-bad 1 data upsert bulk --file upsert-bad.csv --sobject Account --external-id External_Id__c --target-org emu --wait 5 &&
  check upsert-bad 'r["name"] == "FailedRecordDetailsError" and r["data"]["state"] == "JobComplete" and r["data"]["jobId"].startswith("750")'

echo "==> sf data bulk results (of the failed upsert)"
BAD_JOB="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["jobId"])' "$DATA/upsert-bad.json")"
sfrun results 0 data bulk results --job-id "$BAD_JOB" --target-org emu &&
  check results 'r["status"] == "JobComplete" and r["operation"] == "upsert" and r["successfulRecords"] == 1 and r["failedRecords"] == 1
    and [x["External_Id__c"] for x in rows(r["successFilePath"])] == ["A-5"]
    and [(x["External_Id__c"], x["sf__Error"]) for x in rows(r["failedFilePath"])] == [("A-6", "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")]'

echo "==> sf data export bulk (all Accounts)"
sfrun export 0 data export bulk --query "SELECT Id, Name, External_Id__c, NumberOfEmployees FROM Account ORDER BY External_Id__c" \
  --output-file all.csv --result-format csv --target-org emu --wait 5 &&
  check export 'r["totalSize"] == 5 and [(x["External_Id__c"], x["Name"], x["NumberOfEmployees"]) for x in rows("all.csv")] ==
    [("A-1", "Acme", "10"), ("A-2", "Globex Corp", "20"), ("A-3", "Initech", "30"), ("A-4", "Umbrella", ""), ("A-5", "Hooli", "")]'

echo "==> sf data delete bulk (A-3 and A-5 by Id)"
python3 - <<'PY'
import csv
ids = [r["Id"] for r in csv.DictReader(open("all.csv", newline="")) if r["External_Id__c"] in ("A-3", "A-5")]
open("delete.csv", "w").write("Id\n" + "\n".join(ids) + "\n")
PY
sfrun delete 0 data delete bulk --file delete.csv --sobject Account --target-org emu --wait 5 &&
  check delete 'r["jobInfo"]["state"] == "JobComplete" and r["jobInfo"]["numberRecordsProcessed"] == 2 and r["jobInfo"]["numberRecordsFailed"] == 0'

echo "==> sf data export bulk (what is left, as JSON)"
sfrun export-after 0 data export bulk --query "SELECT External_Id__c, Name FROM Account ORDER BY External_Id__c" \
  --output-file left.json --result-format json --target-org emu --wait 5 &&
  check export-after 'r["totalSize"] == 3 and [(x["External_Id__c"], x["Name"]) for x in json.load(open("left.json"))] ==
    [("A-1", "Acme"), ("A-2", "Globex Corp"), ("A-4", "Umbrella")]'

if [[ $failures -ne 0 ]]; then
  echo "$failures sf CLI check(s) failed" >&2
  exit 1
fi
echo "==> all sf CLI checks passed"
