#!/usr/bin/env bash
# Installs the peer tools the benchmarks compare against (Debian packages).
# Optional: a benchmark reports a missing peer as "not installed" and goes on.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends rsync restic borgbackup xfsprogs time
