#!/usr/bin/env bash
# comfy-seal container entrypoint: sshd (only with PUBLIC_KEY), RAM-disk dirs, model sync, ComfyUI on loopback with its
# output kept off the container log, then the worker. If ComfyUI or the worker dies, the container exits non-zero so
# RunPod replaces it. SIGTERM (or SIGINT) once running goes to the worker, which finishes its job, posts it and exits;
# then ComfyUI is stopped, and the exit code is the worker's. SIGTERM during start-up (model sync, ComfyUI's boot) stops
# at once: the step running and ComfyUI are killed, and the exit code is 0 (stopped as asked, no job was taken).
set -euo pipefail

COMFY_DIR="${COMFY_DIR:-/comfyui}"
COMFY_PORT="${COMFY_PORT:-8188}"
COMFY_URL="http://127.0.0.1:${COMFY_PORT}"
INPUT_DIR="${COMFY_SEAL_INPUT_DIR:-/dev/shm/comfy-seal/input}"
OUTPUT_DIR="${COMFY_SEAL_OUTPUT_DIR:-/dev/shm/comfy-seal/output}"
TEMP_DIR="${COMFY_SEAL_TEMP_DIR:-/dev/shm/comfy-seal/temp}"
COMFY_LOG="${COMFY_SEAL_COMFY_LOG:-/dev/shm/comfy-seal/comfyui.log}"
PYTHON="${COMFY_PYTHON:-python3}"
# ComfyUI's launch command, through the launcher that keeps its in-memory log empty and adds --disable-assets where the
# release has it (docker/comfyui-launch.py); tests put the simulator here (it takes ComfyUI's flags).
COMFY_CMD="${COMFY_CMD:-${PYTHON} /opt/comfy-seal/comfyui-launch.py ${COMFY_DIR}/main.py}"
COMFY_SEAL="${COMFY_SEAL_BIN:-comfy-seal}"
READY_TIMEOUT_S="${COMFY_SEAL_READY_TIMEOUT_S:-600}"

log() { printf '%s start.sh %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
STEP_PID=""
COMFY_PID=""
WORKER_PID=""

die() {
  log "fatal: $*" >&2
  stop_children "$STEP_PID" "$COMFY_PID"
  exit 1
}

# bash runs a trap only once the foreground command has ended, but a `wait` it is blocked in returns at once: so every
# start-up step that can take long runs as a child that is waited for.
step() {
  local rc=0
  "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}

# TERM, then KILL whatever is still there after 10 s, and reap them all.
stop_children() {
  local pids=() pid tries=0
  for pid in "$@"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); done
  [ "${#pids[@]}" -gt 0 ] || return 0
  while kill -0 "${pids[@]}" 2>/dev/null && [ "$tries" -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}

on_signal() {
  trap '' TERM INT # a second signal must not cut this short
  set +e
  local status=0
  if [ -n "$WORKER_PID" ]; then
    log "SIGTERM: letting the worker finish its job"
    kill -TERM "$WORKER_PID" 2>/dev/null
    wait "$WORKER_PID" 2>/dev/null
    status=$?
  else
    log "SIGTERM during start-up: stopping"
  fi
  stop_children "$STEP_PID" "$COMFY_PID"
  exit "$status"
}
# Before anything starts: bash as PID 1 would otherwise ignore SIGTERM.
trap on_signal TERM INT

start_sshd() {
  [ -n "${PUBLIC_KEY:-}" ] || return 0
  command -v sshd >/dev/null 2>&1 || command -v /usr/sbin/sshd >/dev/null 2>&1 || die "PUBLIC_KEY is set but sshd is not installed"
  mkdir -p /root/.ssh /run/sshd
  chmod 700 /root/.ssh
  printf '%s\n' "$PUBLIC_KEY" > /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  ssh-keygen -A >/dev/null
  /usr/sbin/sshd -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitRootLogin=prohibit-password
  log "sshd started (key only)"
}

prepare_dirs() {
  # ComfyUI appends "temp" to --temp-directory, so the temp dir must be named temp; the input dir must exist first.
  [ "$(basename "$TEMP_DIR")" = "temp" ] || die "COMFY_SEAL_TEMP_DIR must end in /temp (ComfyUI appends it)"
  mkdir -p "$INPUT_DIR" "$OUTPUT_DIR" "$TEMP_DIR" "$(dirname "$COMFY_LOG")"
  chmod 700 "$INPUT_DIR" "$OUTPUT_DIR" "$TEMP_DIR"
  : > "$COMFY_LOG"
  chmod 600 "$COMFY_LOG"
}

sync_models() {
  [ -n "${MODELS:-}" ] || return 0
  log "syncing models"
  # The command itself honours MODELS_OPTIONAL=1; without it a failure stops start-up here.
  # shellcheck disable=SC2086 # COMFY_SEAL is a command line on purpose
  step $COMFY_SEAL models sync --models-dir "${COMFY_MODELS_DIR:-${COMFY_DIR}/models}"
}

sqlalchemy_preflight() {
  [ "${COMFY_SEAL_SKIP_PREFLIGHT:-0}" = "1" ] && return 0
  local check='import sqlalchemy,sys; sys.exit(0 if int(sqlalchemy.__version__.split(".")[0]) >= 2 else 1)'
  if step "$PYTHON" -c "$check" >/dev/null 2>&1; then return 0; fi
  log "SQLAlchemy >= 2 missing (a custom node may have downgraded it); repairing"
  step "$PYTHON" -m pip install --no-cache-dir --quiet "SQLAlchemy>=2" alembic >/dev/null 2>&1 \
    || die "SQLAlchemy >= 2 is required by ComfyUI and could not be installed; rebuild the image"
  step "$PYTHON" -c "$check" >/dev/null 2>&1 || die "SQLAlchemy >= 2 is still missing after the repair"
}

start_comfy() {
  local args=(--listen 127.0.0.1 --port "$COMFY_PORT" --input-directory "$INPUT_DIR" --output-directory "$OUTPUT_DIR"
    --temp-directory "$(dirname "$TEMP_DIR")" --disable-auto-launch)
  [ "${COMFY_DISABLE_METADATA:-1}" = "1" ] && args+=(--disable-metadata)
  # --fast can give NaNs on pre-Ampere GPUs: opt-in only.
  [ "${COMFY_FAST:-0}" = "1" ] && args+=(--fast)
  # ComfyUI's output can carry prompt text and file names: it goes to a RAM-disk file the worker wipes after each job.
  # shellcheck disable=SC2086 # COMFY_CMD is a command line on purpose
  $COMFY_CMD "${args[@]}" ${COMFY_ARGS:-} >>"$COMFY_LOG" 2>&1 &
  COMFY_PID=$!
  log "ComfyUI starting (pid $COMFY_PID)"
}

wait_ready() {
  local waited=0
  until step node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$COMFY_URL/system_stats"; do
    kill -0 "$COMFY_PID" 2>/dev/null || { cat "$COMFY_LOG" >&2; die "ComfyUI exited during start-up"; }
    [ "$waited" -lt "$READY_TIMEOUT_S" ] || die "ComfyUI did not answer within ${READY_TIMEOUT_S} s"
    step sleep 1
    waited=$((waited + 1))
  done
  # Start-up output holds no job data yet: it is the one part of ComfyUI's log the container may show.
  log "ComfyUI ready; its start-up output follows"
  cat "$COMFY_LOG"
}

start_worker() {
  local args=(worker --comfy-url "$COMFY_URL" --comfy-log "$COMFY_LOG")
  [ "${COMFY_SEAL_LOCAL:-0}" = "1" ] && args+=(--local --host "${COMFY_SEAL_LOCAL_HOST:-127.0.0.1}" --port "${COMFY_SEAL_LOCAL_PORT:-8000}")
  $COMFY_SEAL "${args[@]}" &
  WORKER_PID=$!
}

start_sshd
prepare_dirs
sync_models
sqlalchemy_preflight
start_comfy
wait_ready
start_worker

# Whichever ends first decides: neither may die quietly.
set +e
wait -n "$COMFY_PID" "$WORKER_PID"
status=$?
if kill -0 "$WORKER_PID" 2>/dev/null; then
  log "ComfyUI exited (status $status); stopping the worker"
  kill -TERM "$WORKER_PID" 2>/dev/null
  wait "$WORKER_PID"
  exit 1
fi
log "worker exited (status $status); stopping ComfyUI"
kill -TERM "$COMFY_PID" 2>/dev/null
wait "$COMFY_PID"
[ "$status" -eq 0 ] && exit 1 || exit "$status"
