#!/bin/sh
# The image's entry point (under tini, which forwards signals to it): say where outputs go before any work,
# then run `diswm` with the container's arguments.
#  - no volume at $DISWM_HOME: one warning line (outputs vanish with the container);
#  - a volume the image's user cannot write: one error line with the fix, exit 2, nothing written.
out="${DISWM_HOME:-/work/outputs}"
if ! awk -v dir="$out" '$5 == dir {found = 1} END {exit !found}' /proc/self/mountinfo; then
    echo "warning: $out is not a volume, so outputs vanish with the container; run with -v diswm-outputs:$out" >&2
fi
probe="$out/.diswm-write-check.$$"
if ! (: > "$probe") 2>/dev/null; then
    echo "error: $out is not writable by uid $(id -u) (the image's user); give it to that user once with" \
         "\`docker run --rm --user root --entrypoint chown -v <volume>:$out diswm:latest $(id -u):$(id -g) $out\`" >&2
    exit 2
fi
rm -f "$probe"
exec diswm "$@"
