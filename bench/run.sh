#!/bin/bash
# bench/run.sh — sshgate vs OpenSSH sshd, side by side. See bench/README.md.
#
#   bench/run.sh                  full bench (1 GiB transfers, 5 runs, 1,000 and
#                                 10,000 idle connections); results in bench/results/
#   bench/run.sh --smoke          tiny sizes, 1 run each, < 60 s (also: --quick)
#   bench/run.sh --no-build --sshgated PATH --plugin-dir DIR   use an existing build
#   any other option is passed to bench/bench.py (--runs N, --size-mib N, --idle 1000,
#   --only sftp_get,true_rtt, --ciphers ..., --out DIR, --name STEM); see --help.
#
# Exit status: 0 ok; 1 a figure could not be measured (smoke) or the bench
# failed; 77 OpenSSH sshd is not installed (apt-get install openssh-server).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
BUILD=${SGBENCH_BUILD:-$SRC/build-bench}
PY=/usr/bin/python3
build=1
sshgated=""
plugin_dir=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --sshgated) sshgated=$2; shift ;;
    --plugin-dir) plugin_dir=$2; shift ;;
    --build-dir) BUILD=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exec "$PY" "$HERE/bench.py" --help
               --sshgated x --plugin-dir x --idle-clients x --tcpsink x ;;
    *) args+=("$1") ;;
  esac
  shift
done

if [ ! -x /usr/sbin/sshd ] || [ ! -x /usr/lib/openssh/sftp-server ]; then
  echo "bench: OpenSSH sshd not installed (apt-get install openssh-server): skipped" >&2
  exit 77
fi
for tool in ssh sftp scp ssh-keygen cc pkg-config; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
  echo "bench: sshd needs root for privilege separation; run as root" >&2
  exit 1
fi

mkdir -p "$BUILD"
if [ "$build" = 1 ]; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSSHGATE_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 >/dev/null || { echo "bench: build failed" >&2; exit 1; }
fi
sshgated=${sshgated:-$BUILD/sshgated}
plugin_dir=${plugin_dir:-$BUILD/plugins}

# The idle-connection client (libssh) and the -L sink/source, rebuilt when
# their sources are newer.
idle="$BUILD/idle_clients"
if [ ! -x "$idle" ] || [ "$HERE/idle_clients.c" -nt "$idle" ]; then
  # shellcheck disable=SC2046
  cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$idle" "$HERE/idle_clients.c" \
     $(pkg-config --cflags --libs libssh) -lpthread
fi
tcpsink="$BUILD/tcpsink"
if [ ! -x "$tcpsink" ] || [ "$HERE/tcpsink.c" -nt "$tcpsink" ]; then
  cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$tcpsink" "$HERE/tcpsink.c" -lpthread
fi

# 10,000 connections need > 10,000 descriptors in the client and the servers.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then
  ulimit -Hn 65536 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec "$PY" "$HERE/bench.py" --sshgated "$sshgated" --plugin-dir "$plugin_dir" \
     --idle-clients "$idle" --tcpsink "$tcpsink" "${args[@]}"
