#!/bin/sh
# spike.sh: the scavenger returns a freed 1 GiB spike within a second, and
# without the scavenger (GOMEMDEBUG=scavenge=0) the memory stays.
set -e
./spike release
GOMEMDEBUG=scavenge=0 ./spike retain
