#!/bin/sh
# The bundled demo: installs what is needed, builds, starts triaged with the
# shipped rules on a scratch folder (demo/), sends the sample stream over the
# socket, drops the sample ERP exports into the spool, and shows the tickets
# and the rejected rows. Leaves the daemon stopped; demo/ keeps its state.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${TR_SHARED_DIR:-$ROOT/../shared}
contrib/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

DEMO=$ROOT/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"
cp contrib/demo.yaml "$DEMO/triaged.yaml"
cp -r rules "$DEMO/rules.d"
rm -f "$DEMO"/rules.d/*.test.lua
SOCK=$DEMO/triaged.sock
if [ ${#SOCK} -gt 100 ]; then # a Unix socket path has at most 107 bytes
	SOCK=/tmp/triaged-demo-$(id -u).sock
	sed -i "s|^socket: .*|socket: $SOCK|" "$DEMO/triaged.yaml"
fi
CTL="build/triagectl --socket $SOCK"

echo "== checking the configuration and rules"
build/triaged -c "$DEMO/triaged.yaml" --check
build/triaged -c "$DEMO/triaged.yaml" 2>"$DEMO/triaged.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
i=0
until $CTL ping >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$DEMO/triaged.log"; exit 1; }
	sleep 0.1
done

echo "== a socket client sends the mixed stream (events_20261124.ndjson)"
$CTL ingest "$SHARED/samples/events_20261124.ndjson"
echo "== the ERP exports are dropped into $DEMO/state/spool/incoming/"
for f in feedback_20261123.csv feedback_jp_20261123.csv messages_20261124.csv \
	 cases_20261124.json alerts_20261124.yaml bad_feedback.csv bad_events.ndjson; do
	cp "$SHARED/samples/$f" "$DEMO/state/spool/incoming/.$f.tmp"
	mv "$DEMO/state/spool/incoming/.$f.tmp" "$DEMO/state/spool/incoming/$f"
done
i=0
until [ -z "$(ls "$DEMO/state/spool/incoming" "$DEMO/state/spool/work")" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || break
	sleep 0.1
done
echo "== status"
$CTL status
echo "== tickets (all)"
$CTL tickets --state all
echo "== rows that were rejected, with their line and reason"
cat "$DEMO"/state/spool/rejected/*.errors
echo "== why ticket 1-star feedback on 113-4567890-1234567 exists"
$CTL explain feedback.new 113-4567890-1234567
kill -TERM $PID
wait $PID
trap - EXIT
echo
echo "Done. The daemon's folder is $DEMO; start it again with:"
echo "  build/triaged -c demo/triaged.yaml &   and query it with   build/triagectl --socket $SOCK tickets"
