#!/bin/sh
# stress-quick.sh: the small version of `make stress` (tests/lib/gmstress.c).
exec ./gmstress --quick
