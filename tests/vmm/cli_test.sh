#!/usr/bin/env bash
# remora-primary --standalone end to end: a counter snapshotted mid-run and
# restored prints every tick exactly once (tick 1..30, no gap, no repeat);
# bad command lines, bad images and damaged snapshots get one clear line and
# the documented exit status. Needs /dev/kvm (exit 77 = skipped otherwise).
set -uo pipefail
primary=$1 counter=$2 exitcode=$3
if [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is not usable here; the micro-VM tests need KVM and root"
	exit 77
fi
dir=$(mktemp -d /tmp/remora-cli-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Snapshot after 300 ms of 20 ms ticks, then restore until tick 30.
"$primary" --standalone --guest "$counter" --snapshot-after 300ms \
	--snapshot-file "$dir/snap" -- --interval 20 --count 30 \
	>"$dir/out1" 2>"$dir/err1" || fail "snapshot run: $(cat "$dir/err1")"
grep -q "snapshot written" "$dir/err1" || fail "no snapshot line: $(cat "$dir/err1")"
"$primary" --standalone --restore "$dir/snap" >"$dir/out2" 2>"$dir/err2" ||
	fail "restore run: $(cat "$dir/err2")"
seq 1 30 | sed 's/^/tick /' >"$dir/want"
cat "$dir/out1" "$dir/out2" >"$dir/got"
cmp -s "$dir/want" "$dir/got" || fail "ticks not continuous: $(tr '\n' ' ' <"$dir/got")"
[ -s "$dir/out1" ] && [ -s "$dir/out2" ] || fail "one side printed nothing"
echo "ok: $(wc -l <"$dir/out1") ticks before the snapshot, $(wc -l <"$dir/out2") after"

# expect STATUS PATTERN -- ARGS: exit status and one line on stderr.
expect() {
	local want=$1 pat=$2 rc
	shift 3
	"$primary" "$@" >/dev/null 2>"$dir/err"
	rc=$?
	[ $rc -eq "$want" ] || fail "$*: exit $rc, want $want ($(cat "$dir/err"))"
	grep -q -- "$pat" "$dir/err" || fail "$*: stderr lacks '$pat': $(cat "$dir/err")"
	echo "ok: $* -> $rc: $(head -n1 "$dir/err")"
}
expect 2 "-c FILE and --node NAME are required" --
expect 2 "unrecognized option" -- --guest "$counter"
expect 2 "exactly one of" -- --standalone
expect 2 "--mem 12Q" -- --standalone --guest "$counter" --mem 12Q
expect 1 "multiple of 2 MiB" -- --standalone --guest "$counter" --mem 3M
expect 2 "missing unit" -- --standalone --guest "$counter" --snapshot-after 5 --snapshot-file x
printf 'not an elf\n' >"$dir/text"
expect 1 "not an ELF" -- --standalone --guest "$dir/text"
expect 1 "No such file" -- --standalone --guest "$dir/missing"
head -c 8192 "$dir/snap" >"$dir/short"
expect 1 "truncated" -- --standalone --restore "$dir/short"
cp "$dir/snap" "$dir/bad"
printf 'X' | dd of="$dir/bad" bs=1 seek=30 conv=notrunc status=none
expect 1 "checksum" -- --standalone --restore "$dir/bad"
expect 1 "not a remora snapshot" -- --standalone --restore "$dir/text"
# Guest arguments arrive intact: quotes, backslashes, spaces, empty.
expect 134 'guest aborted: a "quoted" \\ back  slash' -- --standalone --guest "$exitcode" -- --abort 'a "quoted" \ back  slash'
expect 134 "guest aborted: $" -- --standalone --guest "$exitcode" -- --abort ""
echo "cli: all checks passed"
