#!/bin/sh
# Build a plugin the way a third party would: against the installed
# plugin.h found with pkg-config. Usage: build-out-of-tree.sh PREFIX LIBDIR CC OUT SRC
set -eu
prefix=$1 libdir=$2 cc=$3 out=$4 src=$5
PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
export PKG_CONFIG_PATH
# shellcheck disable=SC2046
exec "$cc" -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -O2 $(pkg-config --cflags sshgate-plugin) -shared -o "$out" "$src"
