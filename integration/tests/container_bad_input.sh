# Bad input: each gets a one-line error naming what is wrong, exit 1,
# and nothing is left under --root.
. "$TEST_LIB/guest.sh"
. "$TEST_LIB/bundle.sh"
root=$PWD/root
make_bundle good 'true' || fail "could not make the bundle"

# expect_error WHAT PATTERN ARGS...: runvm ARGS exits 1 with PATTERN on stderr.
expect_error() {
	what=$1 pattern=$2; shift 2
	"$RUNVM" --root "$root" "$@" >out 2>err </dev/null
	status=$?
	echo "$what: exit $status: $(cat err)"
	[ "$status" = 1 ] || fail "$what: expected exit 1"
	[ "$(wc -l <err)" = 1 ] || fail "$what: expected one line on stderr"
	grep -q "$pattern" err || fail "$what: stderr should match '$pattern'"
	nothing_under "$root"
}

mkdir -p noconfig/rootfs
expect_error "no config.json" "config.json: no such file" create --bundle noconfig x
mkdir -p badjson/rootfs && echo '{"ociVersion": "1.0.2",' >badjson/config.json
expect_error "invalid JSON" "config.json: .* at line" create --bundle badjson x
mkdir -p v2/rootfs && sed 's/"1.2.0"/"2.0.0"/' good/config.json >v2/config.json
expect_error "ociVersion 2" "config.json: ociVersion" create --bundle v2 x
expect_error "bad id" "invalid container id" create --bundle good "a/b"
mkdir -p outside/rootfs && sed 's/"path": "rootfs"/"path": "..\/..\/etc"/' good/config.json >outside/config.json
expect_error "rootfs outside the bundle" "leaves the bundle" create --bundle outside x
mkdir -p relcwd/rootfs && sed 's/"cwd": "\/"/"cwd": "tmp"/' good/config.json >relcwd/config.json
expect_error "relative cwd" "process.cwd" create --bundle relcwd x
mkdir -p noargs/rootfs && sed 's/"args": \[.*\]/"args": []/' good/config.json >noargs/config.json
expect_error "empty args" "process.args" create --bundle noargs x
mkdir -p nocwd/rootfs && sed 's/"cwd": "\/"//; s/"env": \(.*\),$/"env": \1/' good/config.json >nocwd/config.json
expect_error "missing cwd" "missing field .cwd." create --bundle nocwd x
mkdir -p tty/rootfs && sed 's/"terminal": false/"terminal": true/' good/config.json >tty/config.json
expect_error "unreachable console socket" "console.sock" create --bundle tty --console-socket "$PWD/console.sock" x
[ -e /sys/fs/cgroup/x ] && fail "a failed create left its host cgroup /x"
expect_error "bad signal name" "unknown signal" kill x NOTASIGNAL
expect_error "unknown container" "does not exist" state nope
expect_error "start unknown container" "does not exist" start nope
expect_error "preserve-fds" "preserve-fds" create --bundle good --preserve-fds 2 x

# A duplicate id: the first create succeeds, the second is refused.
"$RUNVM" --root "$root" create --bundle good dup >out 2>err </dev/null || { cat err; fail "first create failed"; }
"$RUNVM" --root "$root" create --bundle good dup >out 2>err </dev/null
status=$?
echo "duplicate id: exit $status: $(cat err)"
[ "$status" = 1 ] || fail "duplicate id: expected exit 1"
grep -q "already exists" err || fail "duplicate id: should say 'already exists'"
"$RUNVM" --root "$root" delete --force dup || fail "delete --force failed"
nothing_under "$root"
