#!/usr/bin/env bash
# CHAP against tgtd accounts: one-way and mutual logins succeed; a wrong
# initiator secret is refused by the target ("authentication failure"); a
# wrong target secret is refused by the initiator (the target's response does
# not verify). No secret appears in the daemon's output, even at debug level.
set -eu
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TESTLIB:?TESTLIB must point to tests/lib}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/target.sh
. "$TESTLIB/target.sh"

require_root
require_iscsifs
require_cmd cmp grep timeout

IQN=iqn.2026-11.org.iscsifs.test:chap
ISECRET=initiator-Secret-4711
TSECRET=target-Secret-0815
WRONG_I=not-the-initiator-Secret
WRONG_T=not-the-target-Secret
setup_tmpdir
tgt_start
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 8
tgt_bind 1
tgt_adm --op new --mode account --user iuser --password "$ISECRET" || fail "tgtadm: account iuser"
tgt_adm --op new --mode account --user tuser --password "$TSECRET" || fail "tgtadm: account tuser"
tgt_adm --op bind --mode account --tid 1 --user iuser || fail "tgtadm: bind iuser"

MNT=$TEST_TMP/mnt
CHANNEL_KEYS="AuthMethod=CHAP,None"
ISCSIFS_LOG_LEVEL=debug

# setup AUTH-VALUE: the channel, and an auth file only root can read.
setup() {
	iscsifs_config "$(channel_line 0 "$TGT_PORT" "$IQN")"
	printf 'AUTH="%s"\n' "$1" >"$ISCSIFS_ETC/initiator_auth"
	chmod 600 "$ISCSIFS_ETC/initiator_auth"
}

# must_refuse WHAT WORDS: the daemon exits non-zero without mounting, saying WORDS.
must_refuse() {
	local st=0
	iscsifs_spawn "$MNT"
	wait_iscsifs_exit 30 || st=$?
	[ "$st" -ne 124 ] || fail "$1: the daemon is still running"
	[ "$st" -ne 0 ] || fail "$1: the daemon exited with 0"
	! is_mounted "$MNT" || fail "$1: mounted anyway"
	grep -q "$2" "$ISCSIFS_LOG" || fail "$1: the log does not say '$2'"
	msg "$1: refused ($2)"
}

setup "0 0 iuser $ISECRET"
start_iscsifs "$MNT"
timeout -k 10 30 cmp "$MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" || fail "one-way CHAP: data differs"
stop_iscsifs_checked
msg "one-way CHAP login works"

setup "0 0 iuser $WRONG_I"
must_refuse "wrong initiator secret" "authentication failure"

tgt_adm --op bind --mode account --tid 1 --user tuser --outgoing || fail "tgtadm: bind tuser outgoing"
setup "0 1 iuser $ISECRET tuser $TSECRET"
start_iscsifs "$MNT"
timeout -k 10 30 cmp "$MNT/$IQN/lun1" "$(tgt_lun_file 1 1)" || fail "mutual CHAP: data differs"
stop_iscsifs_checked
msg "mutual CHAP login works"

setup "0 1 iuser $ISECRET tuser $WRONG_T"
must_refuse "wrong target secret" "target's CHAP response is wrong"

for secret in "$ISECRET" "$TSECRET" "$WRONG_I" "$WRONG_T"; do
	if grep -rqF -- "$secret" "$TEST_TMP"/iscsifs.*.log; then
		fail "a secret appears in the daemon's output"
	fi
done
msg "no secret in the daemon's output"
