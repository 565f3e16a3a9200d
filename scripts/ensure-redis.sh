#!/usr/bin/env bash
# Makes sure `redis-server` is on PATH, installing Debian's package when it is not.
#
# The Redis tests and the replicas benchmark call this before starting their own server on a
# loopback port; several test binaries may call it at once, so the install is serialised with a
# lock file. Prints the path of `redis-server` on success; exits non-zero with a message otherwise.
set -euo pipefail

find_server() {
    command -v redis-server 2>/dev/null || { [ -x /usr/bin/redis-server ] && echo /usr/bin/redis-server; }
}

if server=$(find_server) && [ -n "$server" ]; then
    echo "$server"
    exit 0
fi

lock="${TMPDIR:-/tmp}/fly-machines-ensure-redis.lock"
exec 9>"$lock"
flock 9
# Another caller may have installed it while we waited for the lock.
if server=$(find_server) && [ -n "$server" ]; then
    echo "$server"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "redis-server is not installed and apt-get is not available: install redis-server (or valkey-server as redis-server) and retry" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
        echo "redis-server is not installed and installing it needs root: run 'apt-get install -y redis-server' as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
{
    $sudo apt-get update -q
    # Debian's package starts a system service on 6379 when it can; the tests do not use it.
    $sudo apt-get install -y -q --no-install-recommends redis-server
} >&2
if server=$(find_server) && [ -n "$server" ]; then
    echo "$server"
    exit 0
fi
echo "apt-get install redis-server finished but redis-server is still not on PATH" >&2
exit 1
