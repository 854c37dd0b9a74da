#!/usr/bin/env bash
# vidlib's one-command entry point.
#
#   ./vidlib.sh run FOLDER [FOLDER...]   install what is missing, then serve FOLDER(s) on
#                                        http://127.0.0.1:8000 (web + worker + private Redis)
#   ./vidlib.sh test [PYTEST ARGS]       install what is missing (with test tools), run the tests
#   ./vidlib.sh install [--dev]          only install (system packages, venv, Python packages)
#
# Settings come from VIDLIB_* environment variables or a .env file (docs/configuration.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
VENV="${VIDLIB_VENV:-$HERE/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

say() { printf '\033[1m[vidlib]\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $* (install these packages yourself)"; return 1; fi
}

install_system() {
    # Debian/Ubuntu packages: ffmpeg (ffprobe, libx264, libvpx), redis-server, and for the
    # browser tests chromium. Only what is missing is installed.
    local want=(ffmpeg redis-server python3-venv)
    if [ "${1:-}" = "--dev" ]; then want+=(chromium); fi
    local missing=()
    for pkg in "${want[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! command -v apt-get >/dev/null; then
            say "please install: ${missing[*]} (no apt-get here)"; return 1
        fi
        say "installing system packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

install_python() {
    local reqs=requirements.txt
    if [ "${1:-}" = "--dev" ]; then reqs=requirements-dev.txt; fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtual environment in $VENV"
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    # Reinstall only when the requirement files changed since the last install.
    local stamp="$VENV/.vidlib-$(basename "$reqs").sha"
    local sum
    sum="$(cat requirements.txt "$reqs" | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
        say "installing Python packages ($reqs)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -r "$reqs"
        echo "$sum" > "$stamp"
    fi
}

install_frontend() {
    # The web UI is built from frontend/ when it has a package.json; again only when a source
    # file changed since the last build (the stamp holds a checksum of every source file).
    if [ -f frontend/package.json ]; then
        command -v npm >/dev/null || { say "npm is needed to build the web UI"; return 1; }
        local stamp=templates_static/.vidlib-build.sha sum
        sum="$(find frontend -path frontend/node_modules -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -f templates_static/home/index.html ]; then
            return 0
        fi
        say "building the web UI"
        (cd frontend && { [ -f package-lock.json ] && npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; } && npm run --silent build)
        echo "$sum" > "$stamp"
    fi
}

install_all() {
    install_system "${1:-}"
    install_python "${1:-}"
    install_frontend
}

cmd_run() {
    if [ "$#" -eq 0 ]; then
        say "usage: ./vidlib.sh run FOLDER [FOLDER...]"; exit 2
    fi
    install_all
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    if [ -z "${VIDLIB_DATA_DIR:-}" ]; then
        VIDLIB_DATA_DIR="$(python -c 'from config import load_config; print(load_config()["DATA_DIR"])')"
    fi
    export VIDLIB_DATA_DIR
    export VIDLIB_HOST="${VIDLIB_HOST:-127.0.0.1}" VIDLIB_PORT="${VIDLIB_PORT:-8000}"
    mkdir -p "$VIDLIB_DATA_DIR"
    for folder in "$@"; do
        local real
        real="$(cd "$folder" && pwd -P)" || { say "not a folder: $folder"; exit 2; }
        if ! flask --app vidlib folders | grep -qF "  $real"; then
            flask --app vidlib add-folder "$real"
        fi
    done
    local procs=(web worker watcher)
    if [ -z "${VIDLIB_REDIS_URL:-}" ]; then procs=(redis "${procs[@]}"); fi
    say "data in $VIDLIB_DATA_DIR; serving on http://$VIDLIB_HOST:$VIDLIB_PORT (Ctrl-C stops everything)"
    exec honcho -f Procfile start "${procs[@]}"
}

cmd_test() {
    install_all --dev
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    exec python -m pytest "$@"
}

case "${1:-}" in
    run) shift; cmd_run "$@" ;;
    test) shift; cmd_test "$@" ;;
    install) shift; install_all "${1:-}" ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
