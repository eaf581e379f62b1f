#!/bin/sh
# The example external module: a POSIX sh program following aivex's module contract
# (modules/README.md). It runs one cycle every AIVEX_INTERVAL_S seconds, rewrites its heartbeat
# file every cycle, exits 0 on SIGTERM, and uses the documented exit codes.

set -u

# Config errors are exit 2: the supervisor will not restart us until the config is fixed.
if [ -z "${AIVEX_HEARTBEAT_FILE:-}" ]; then
    echo "example: AIVEX_HEARTBEAT_FILE is not set (run me under aivex)" >&2
    exit 2
fi

# AIVEX_SETTINGS is the module's [settings] table as JSON. A real module would use a JSON
# parser; for one flat string this sed is enough.
greeting=$(printf '%s' "${AIVEX_SETTINGS:-{\}}" | sed -n 's/.*"greeting":"\([^"]*\)".*/\1/p')
interval=${AIVEX_INTERVAL_S:-60}

stop=0
trap 'stop=1' TERM INT

cycle=0
while [ "$stop" -eq 0 ]; do
    cycle=$((cycle + 1))
    echo "cycle $cycle: ${greeting:-no greeting}"
    # The heartbeat: any rewrite of the file counts.
    echo "$$ $cycle $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$AIVEX_HEARTBEAT_FILE"
    if [ "${AIVEX_ONCE:-0}" = "1" ]; then
        exit 0
    fi
    # Sleep in short steps so SIGTERM is handled promptly.
    waited=0
    while [ "$stop" -eq 0 ] && [ "$waited" -lt "${interval%.*}0" ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
done
echo "stopping on request"
exit 0
