#!/bin/sh
# test-static.sh: the dashboard's files over HTTP: content types, and
# refusal of every way out of the web root ("..", encoded dots, dot files,
# a symlink pointing outside), with JSON errors.
. "${srcdir:-.}/common.sh"

need_daemon
# A copy of web/ with a symlink that escapes it, and one that stays inside.
WEB_DIR="$TMPD/web"
cp -R "$top_srcdir/web" "$WEB_DIR"
echo secret >"$TMPD/secret.txt"
ln -s ../secret.txt "$WEB_DIR/escape.txt"
ln -s app.js "$WEB_DIR/inside.js"
export WEB_DIR
start_gomemd

check() { # path want_code want_type_prefix
	got=$(curl -sS --path-as-is -o "$TMPD/body" -w '%{http_code} %{content_type}' "$BASE$1")
	case "$got" in
	"$2 $3"*) ;;
	*) fail "GET $1: got '$got', want '$2 $3...'" ;;
	esac
	if [ "$2" != 200 ]; then
		grep -q "\"Status\": *$2" "$TMPD/body" || fail "GET $1: error body not JSON: $(cat "$TMPD/body")"
	fi
	if grep -q secret "$TMPD/body"; then
		fail "GET $1 leaked a file outside the web root"
	fi
}
check / 200 "text/html; charset=utf-8"
check /index.html 200 "text/html; charset=utf-8"
check /app.js 200 "text/javascript"
check /style.css 200 "text/css"
check /vendor/uplot/uPlot.iife.min.js 200 "text/javascript"
check /vendor/uplot/uPlot.min.css 200 "text/css"
check /vendor/uplot/LICENSE 200 "text/plain"
check /inside.js 200 "text/javascript"
check /../secret.txt 403 "application/json"
check /vendor/../../secret.txt 403 "application/json"
check /%2e%2e/secret.txt 403 "application/json"
check /vendor/%2e%2e/%2e%2e/secret.txt 403 "application/json"
check /..%2fsecret.txt 403 "application/json"
check /.hidden 403 "application/json"
check /escape.txt 403 "application/json"
check //etc/passwd 404 "application/json"
check /missing.js 404 "application/json"
check /vendor 404 "application/json"
code=$(curl -sS -u "$AUTH" -o /dev/null -w '%{http_code}' -X POST "$BASE/index.html")
[ "$code" = 405 ] || fail "POST /index.html gave $code, want 405"
curl -fsS "$BASE/app.js" | cmp -s - "$WEB_DIR/app.js" || fail "app.js bytes differ"
echo "ok: static files: types right, 7 escapes refused, missing files 404 JSON"
exit 0
