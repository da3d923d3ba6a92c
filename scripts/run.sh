#!/bin/sh
# Install what is missing, build, and run sshgated in the foreground on the
# embedded default config (conf/sshgate.json): 127.0.0.1:2222, state in ./state.
# A demo client key is generated for the user "demo" on first run.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
mkdir -p state/authorized_keys state/sftp/demo
chmod 700 state
if [ ! -f state/demo_id_ed25519 ]; then
  ssh-keygen -q -t ed25519 -N '' -C demo@sshgate -f state/demo_id_ed25519
fi
cp state/demo_id_ed25519.pub state/authorized_keys/demo
[ -f state/users.json ] || printf '{"users": {}}\n' > state/users.json
cat <<MSG

  sshgated is starting on 127.0.0.1:2222 (Ctrl-C stops it). Connect with:

    ssh  -i state/demo_id_ed25519 -p 2222 demo@127.0.0.1
    sftp -i state/demo_id_ed25519 -P 2222 demo@127.0.0.1
    ssh  -i state/demo_id_ed25519 -p 2222 -L 8080:127.0.0.1:80 demo@127.0.0.1

  (the host key is new: accept it, or add -o StrictHostKeyChecking=accept-new)
$( [ "$(id -u)" = 0 ] && printf '%s\n' "  Started as root, demo's commands run as root: for anything but a try-out," \
   "  set \"user\" (a service account) in a config of your own (conf/README.md).")

MSG
exec ./build/sshgated -D
