#!/bin/sh
# Install the Debian 12 packages sshgate needs to build, run and test.
# Idempotent: installs only what is missing. Run as root (or with sudo).
set -eu
PKGS="build-essential cmake pkg-config libssh-dev libssl-dev zlib1g-dev libjansson-dev
libcrypt-dev libcmocka-dev libldap-dev slapd ldap-utils openssh-client openssh-server
sshpass python3 python3-paramiko openssl git rsync procps clang ssh-audit python3-matplotlib"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# slapd's postinst must not start a system directory on the default port
echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
$SUDO apt-get install -y -qq --no-install-recommends $missing
