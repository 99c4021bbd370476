#!/bin/sh
# Installs the Debian packages triaged builds, runs and tests with.
set -eu
PKGS="build-essential cmake pkg-config liblua5.4-dev libuv1-dev libsqlite3-dev libyaml-dev
 libcjson-dev libcsv-dev libsystemd-dev libcmocka-dev libjemalloc-dev python3 tzdata sqlite3"
# promtool, which test_metrics.py runs on `triagectl metrics` (Debian ships
# it only in the server's package)
PKGS="$PKGS prometheus"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
