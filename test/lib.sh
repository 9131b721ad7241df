# What the suites that run the connector binary as their own process share
# (test/jsforce/run.sh, test/sfcli/run.sh, test/kcat/run.sh). Source it
# under `set -euo pipefail`, then:
#
#   lib_work_dir NAME LOGNAME   WORK_DIR (a fresh temporary directory), BIN
#                               (where lib_build puts the connector) and LOG
#                               ($WORK_DIR/LOGNAME); on exit SERVICE_PID is
#                               stopped, LOG's end shown if the suite failed,
#                               and WORK_DIR removed
#   lib_build                   go build ./cmd/connector into $BIN
#   free_port                   a loopback TCP port nobody listens on now
#   lib_start_emulator [FLAGS]  `$BIN emulator FLAGS` on a free port, logging
#                               to LOG; sets URL and SERVICE_PID once it
#                               answers HTTP (at most 30 s)
#
# A suite that starts another process itself sets SERVICE_PID to its pid,
# and back to "" once it stopped it on purpose.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE_PID=""

lib_work_dir() {
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  BIN="$WORK_DIR/connector"
  LOG="$WORK_DIR/$2"
  trap lib_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# lib_cleanup runs on exit: SERVICE_PID gets SIGTERM and 10 s to stop, then
# SIGKILL.
lib_cleanup() {
  local status=$? i state
  if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill "$SERVICE_PID" 2>/dev/null || true
    # Not $(seq ...): a command substitution inside an EXIT trap runs the
    # trap again in its subshell, which removed WORK_DIR (and the log the
    # suite shows on failure) before this line was reached.
    # A process that stopped stays a zombie, which kill -0 still finds,
    # until this shell waits for it: on Linux its state tells.
    for ((i = 0; i < 100; i++)); do
      kill -0 "$SERVICE_PID" 2>/dev/null || break
      if [[ -r /proc/$SERVICE_PID/stat ]] && read -r _ _ state _ <"/proc/$SERVICE_PID/stat" && [[ $state == Z ]]; then
        break
      fi
      sleep 0.1
    done
    kill -9 "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s "$LOG" ]]; then
    echo "---- ${LOG##*/} (last 60 lines) ----" >&2
    tail -n 60 "$LOG" >&2 || true
    echo "--------------------------------------" >&2
  fi
  rm -rf "$WORK_DIR"
  exit "$status"
}

lib_build() {
  echo "==> go build ./cmd/connector"
  (cd "$REPO_ROOT" && go build -o "$BIN" ./cmd/connector)
}

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    echo $((20000 + RANDOM % 30000))
  fi
}

lib_start_emulator() {
  local port
  port="$(free_port)"
  URL="http://127.0.0.1:$port"
  echo "==> starting emulator on $URL (log: $LOG)"
  "$BIN" emulator --addr "127.0.0.1:$port" "$@" >"$LOG" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 150); do
    if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
      echo "emulator exited before it answered on $URL" >&2
      exit 1
    fi
    if curl -s -o /dev/null --max-time 1 "$URL/"; then
      return 0
    fi
    sleep 0.2
  done
  echo "emulator did not answer on $URL within 30 s" >&2
  exit 1
}
