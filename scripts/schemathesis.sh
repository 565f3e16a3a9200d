#!/usr/bin/env bash
# Property-based run of our OpenAPI document against the emulator, with schemathesis.
#
#   scripts/schemathesis.sh              # all phases, 300 s budget
#   ST_MAX_TIME=900 ST_PHASES=stateful scripts/schemathesis.sh
#
# What it does:
#   1. installs schemathesis from PyPI into a venv under target/schemathesis/venv (once);
#   2. builds and starts the emulator binary (fly-machines-sim) on a free port, with a token of
#      its own, no rate limits and short transitions;
#   3. runs schemathesis from openapi/fly-machines.json against it (examples, coverage, fuzzing
#      and the stateful phase, which follows the document's OpenAPI links from each create to
#      the operations that use what it made), with the checks that say whether the emulator
#      keeps to the document: no server error, only declared statuses, declared content types,
#      headers and response schemas;
#   4. prints, per operation, how many requests reached it, how many got past a 4xx (reached
#      the operation's core), server errors, undocumented statuses and schema breaks, then the
#      totals and the operations never got past a 4xx.
#
# Not in CI: it takes minutes and needs PyPI. Reports stay in target/schemathesis/report.
# Environment: ST_MAX_TIME (seconds, default 300), ST_PHASES (default
# examples,coverage,fuzzing,stateful), ST_SEED (default 24), ST_WORKERS (default 2).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/schemathesis"
venv="$work/venv"
report="$work/report"
mkdir -p "$work"

if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis>=4.32,<5"
fi

echo "building the emulator"
cargo build --quiet --manifest-path "$root/Cargo.toml" -p fly-machines-sim --bin fly-machines-sim
token="st-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
banner="$work/emulator.out"
"$root/target/debug/fly-machines-sim" --port 0 --token "$token" --no-rate-limits \
    --transition-ms 1 --postgres-step-ms 10 >"$banner" 2>&1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT

host=""
for _ in $(seq 1 100); do
    host="$(sed -n 's/^ *export FLY_API_HOSTNAME=//p' "$banner")"
    [ -n "$host" ] && break
    kill -0 "$emulator" 2>/dev/null || { cat "$banner"; exit 1; }
    sleep 0.1
done
[ -n "$host" ] || { echo "the emulator printed no address"; cat "$banner"; exit 1; }
echo "emulator at $host"

rm -rf "$report"
cd "$work"
set +e
"$venv/bin/schemathesis" run "$root/openapi/fly-machines.json" \
    --url "$host/v1" \
    --header "Authorization: Bearer $token" \
    --phases "${ST_PHASES:-examples,coverage,fuzzing,stateful}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-time "${ST_MAX_TIME:-300}" \
    --seed "${ST_SEED:-24}" \
    --workers "${ST_WORKERS:-2}" \
    --report ndjson --report-dir "$report" \
    --no-color >"$work/run.log" 2>&1
status=$?
set -e
tail -n 25 "$work/run.log"

"$venv/bin/python" - "$report" "$root/openapi/fly-machines.json" <<'PY'
import collections, glob, json, sys

report = sorted(glob.glob(sys.argv[1] + "/*.ndjson"))[-1]
document = json.load(open(sys.argv[2]))
# Only the document's operations; the coverage phase also tries methods it does not declare.
declared = {
    f"{method.upper()} {path}"
    for path, item in document["paths"].items()
    for method in item
    if method in ("get", "put", "post", "delete", "patch")
}
rows = collections.defaultdict(lambda: collections.Counter())
undeclared_methods = collections.Counter()
for line in open(report):
    event = json.loads(line)
    if "LoadingFinished" in event:
        continue
    finished = event.get("ScenarioFinished")
    if not finished:
        continue
    recorder = finished["recorder"]
    cases = recorder.get("cases", {})
    interactions = recorder.get("interactions", {})
    for case_id, checks in recorder.get("checks", {}).items():
        case = cases.get(case_id, {}).get("value", {})
        op = f'{case.get("method", "?")} {case.get("path", "?")}'
        if op not in declared:
            undeclared_methods[op.split()[0]] += 1
            continue
        row = rows[op]
        row["requests"] += 1
        status = (interactions.get(case_id, {}).get("response") or {}).get("status_code", 0)
        if 200 <= status < 400:
            row["past_4xx"] += 1
        if status >= 500:
            row["server_errors"] += 1
        for check in checks:
            if check["status"] != "failure":
                continue
            name = check["name"]
            if name == "status_code_conformance":
                row["undocumented_status"] += 1
            elif name == "response_schema_conformance":
                row["schema_breaks"] += 1
            elif name == "not_a_server_error":
                row["server_error_checks"] += 1
            else:
                row[name] += 1

print()
print(f"{'operation':74} {'req':>6} {'2xx/3xx':>7} {'5xx':>4} {'undoc':>5} {'schema':>6}")
totals = collections.Counter()
for op in sorted(rows):
    r = rows[op]
    totals.update(r)
    print(f"{op:74} {r['requests']:>6} {r['past_4xx']:>7} {r['server_errors']:>4} "
          f"{r['undocumented_status']:>5} {r['schema_breaks']:>6}")
others = {k: v for k, v in totals.items() if k not in
          ("requests", "past_4xx", "server_errors", "undocumented_status", "schema_breaks",
           "server_error_checks")}
print()
print(f"operations_reached: {len(rows)} of {len(declared)}")
print(f"operations_past_4xx: {sum(1 for r in rows.values() if r['past_4xx'])}")
print(f"requests: {totals['requests']}")
print(f"server_errors: {totals['server_errors']}")
print(f"undocumented_statuses: {totals['undocumented_status']}")
print(f"schema_breaks: {totals['schema_breaks']}")
for name, count in sorted(others.items()):
    print(f"{name}: {count}")
print(f"requests_with_undeclared_methods: {sum(undeclared_methods.values())}")
never = sorted(op for op in declared if not rows[op]["past_4xx"])
print(f"never past a 4xx ({len(never)}):")
for op in never:
    print(f"  {op}")
PY
echo "schemathesis exit status: $status (full log: $work/run.log)"
