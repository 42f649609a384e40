#!/usr/bin/env bash
# comfy-seal container entrypoint: sshd (only with PUBLIC_KEY), RAM-disk dirs, model sync, ComfyUI on loopback with its
# output kept off the container log, then the worker. ComfyUI and its custom nodes are third-party code: they run without
# the worker's secrets in their environment and, when this script runs as root (the image), as their own unprivileged
# user, so they cannot read the worker's environment or memory either (contract §11).
# If ComfyUI or the worker dies, the container exits non-zero so RunPod replaces it. SIGTERM (or SIGINT) once running goes to the worker, which finishes its job, posts it and exits;
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
COMFY_USER="${COMFY_SEAL_COMFY_USER:-comfyui}"

log() { printf '%s start.sh %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
STEP_PID=""
COMFY_PID=""
WORKER_PID=""
COMFY_AS=()    # the user switch in front of every ComfyUI process (empty: runs as this script's user)
COMFY_HOME=""  # that user's home
COMFY_GROUP="" # the group the RAM-disk dirs are shared through

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
  # RunPod injects the account's PUBLIC_KEY into templates that did not turn SSH off, so a missing sshd is no reason to
  # stop (worker-comfyui's images have none).
  if ! command -v sshd >/dev/null 2>&1 && ! [ -x /usr/sbin/sshd ]; then
    log "PUBLIC_KEY is set but this image has no sshd: SSH stays off"
    return 0
  fi
  mkdir -p /root/.ssh /run/sshd
  chmod 700 /root/.ssh
  printf '%s\n' "$PUBLIC_KEY" > /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  ssh-keygen -A >/dev/null
  /usr/sbin/sshd -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitRootLogin=prohibit-password
  log "sshd started (key only)"
}

# Execs "$@" with only the environment's plain, non-secret variables. The environment is rebuilt rather than trimmed:
# bash passes on entries whose names are not identifiers (`a.b_KEY=`) without listing them. Matched in any case.
exec_without_secrets() {
  local name kept=()
  while IFS= read -r name; do
    case "${name^^}" in
      ENCRYPTION_KEY | RUNPOD_AI_API_KEY | HF_TOKEN | AWS_* | *_KEY | *_TOKEN | *_SECRET | *_PASSWORD) ;;
      *) kept+=("$name=${!name}") ;;
    esac
  done < <(compgen -e)
  exec env -i "${kept[@]}" "$@"
}

# Execs "$@" as ComfyUI: without secrets, as COMFY_USER when this script is root, and with group-shared files (umask
# 007: the worker zeroes whatever ComfyUI writes).
exec_as_comfy() {
  umask 007
  if [ -n "$COMFY_HOME" ]; then export HOME="$COMFY_HOME" USER="$COMFY_USER" LOGNAME="$COMFY_USER"; fi
  exec_without_secrets "${COMFY_AS[@]}" "$@"
}

# As root: ComfyUI gets its own uid, so /proc/<worker>/environ, the worker's memory and ptrace are out of its reach,
# and no_new_privs keeps setuid programs from giving root back. Not root (development, tests): nothing to switch.
prepare_user() {
  [ "$(id -u)" = "0" ] || return 0
  if [ "$COMFY_USER" = "root" ]; then
    log "warning: ComfyUI runs as root (COMFY_SEAL_COMFY_USER=root): its custom nodes can read the worker's key"
    return 0
  fi
  command -v setpriv >/dev/null 2>&1 || die "setpriv (util-linux) is needed to run ComfyUI as $COMFY_USER"
  if ! id -u "$COMFY_USER" >/dev/null 2>&1; then
    # An image built on another (BASE_IMAGE) gets the user here: its build adds files only, never runs a command.
    useradd --system --user-group --create-home --shell /usr/sbin/nologin "$COMFY_USER" >/dev/null 2>&1 \
      || die "could not create the user $COMFY_USER (COMFY_SEAL_COMFY_USER): create it in the image (useradd --system $COMFY_USER)"
  fi
  COMFY_GROUP="$(id -gn "$COMFY_USER")"
  COMFY_HOME="$(getent passwd "$COMFY_USER" | cut -d: -f6)"
  COMFY_AS=(setpriv --reuid="$COMFY_USER" --regid="$COMFY_GROUP" --init-groups --no-new-privs --)
  # ComfyUI's own writable dir (settings, the frontend's files); everything else of the image stays read-only to it.
  if [ -d "$COMFY_DIR" ]; then
    mkdir -p "$COMFY_DIR/user"
    chown -R "$COMFY_USER:$COMFY_GROUP" "$COMFY_DIR/user"
  fi
  log "ComfyUI runs as $COMFY_USER"
}

prepare_dirs() {
  # ComfyUI appends "temp" to --temp-directory, so the temp dir must be named temp; the input dir must exist first.
  [ "$(basename "$TEMP_DIR")" = "temp" ] || die "COMFY_SEAL_TEMP_DIR must end in /temp (ComfyUI appends it)"
  mkdir -p "$INPUT_DIR" "$OUTPUT_DIR" "$TEMP_DIR" "$(dirname "$COMFY_LOG")"
  if [ -n "$COMFY_GROUP" ]; then
    # Shared with ComfyUI's user through its group; setgid so every file and folder made inside keeps that group.
    chgrp "$COMFY_GROUP" "$INPUT_DIR" "$OUTPUT_DIR" "$TEMP_DIR"
    chmod 2770 "$INPUT_DIR" "$OUTPUT_DIR" "$TEMP_DIR"
  else
    chmod 700 "$INPUT_DIR" "$OUTPUT_DIR" "$TEMP_DIR"
  fi
  # Opened by this script for ComfyUI's output (it inherits the descriptor): ComfyUI's user cannot read it back.
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
  if step exec_without_secrets "$PYTHON" -c "$check" >/dev/null 2>&1; then return 0; fi
  log "SQLAlchemy >= 2 missing (a custom node may have downgraded it); repairing"
  step exec_without_secrets "$PYTHON" -m pip install --no-cache-dir --quiet "SQLAlchemy>=2" alembic >/dev/null 2>&1 \
    || die "SQLAlchemy >= 2 is required by ComfyUI and could not be installed; rebuild the image"
  step exec_without_secrets "$PYTHON" -c "$check" >/dev/null 2>&1 || die "SQLAlchemy >= 2 is still missing after the repair"
}

# Whether this ComfyUI's --help lists a flag (the usage line brackets it, the option list indents it).
lists_flag() {
  grep -Eq -- "(^|[^-[:alnum:]_])$2([^-[:alnum:]_]|\$)" "$1"
}

# Flags only some releases have, chosen by what `$COMFY_CMD --help` lists (argparse answers before ComfyUI imports
# anything heavy, so this costs well under a second).
COMFY_RELEASE_ARGS=()
probe_comfy_flags() {
  local help rc=0
  help="$(mktemp)"
  # shellcheck disable=SC2086 # COMFY_CMD is a command line on purpose
  step exec_as_comfy $COMFY_CMD --help >"$help" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$help" >&2
    rm -f "$help"
    die "\`$COMFY_CMD --help\` failed (status $rc): is ComfyUI at $COMFY_DIR and its Python on PATH?"
  fi
  # §13: previews exist only with a preview method; a job that asks for none costs nothing extra.
  lists_flag "$help" --preview-method && COMFY_RELEASE_ARGS+=(--preview-method auto)
  # §12: the assets database records uploads and outputs: off where the release can turn it off, and in memory in any
  # case (releases open it at start whether assets are on or not).
  lists_flag "$help" --disable-assets && COMFY_RELEASE_ARGS+=(--disable-assets)
  lists_flag "$help" --database-url && COMFY_RELEASE_ARGS+=(--database-url "sqlite:///:memory:")
  rm -f "$help"
}

start_comfy() {
  local args=(--listen 127.0.0.1 --port "$COMFY_PORT" --input-directory "$INPUT_DIR" --output-directory "$OUTPUT_DIR"
    --temp-directory "$(dirname "$TEMP_DIR")" --disable-auto-launch "${COMFY_RELEASE_ARGS[@]}")
  [ "${COMFY_DISABLE_METADATA:-1}" = "1" ] && args+=(--disable-metadata)
  # --fast can give NaNs on pre-Ampere GPUs: opt-in only.
  [ "${COMFY_FAST:-0}" = "1" ] && args+=(--fast)
  # ComfyUI's output can carry prompt text and file names: it goes to a RAM-disk file the worker wipes after each job.
  # shellcheck disable=SC2086 # COMFY_CMD is a command line on purpose
  exec_as_comfy $COMFY_CMD "${args[@]}" ${COMFY_ARGS:-} >>"$COMFY_LOG" 2>&1 &
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
prepare_user
prepare_dirs
sync_models
sqlalchemy_preflight
probe_comfy_flags
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
