/* pty_modes.h — the terminal modes of a pty-req.
 *
 * libssh 0.10.6 parses the modes string of a pty-req into its message but
 * has no call that returns it. sg_pty_modes finds it in the message by
 * locating the fields libssh does return (TERM pointer, then width, height,
 * pixel width and height, which the modes pointer follows) and hands out the
 * modes only when all five match at that place; otherwise it reports none
 * (and the program gets a terminal with default modes, as before). */
#ifndef SSHGATE_PTY_MODES_H
#define SSHGATE_PTY_MODES_H

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_PTY_MODES_MAX 4096 /* OpenSSH sends < 300 bytes */

/* For a pty-req message: *data and *len point into m (valid until it is freed).
 * False, with *data NULL and *len 0, when the modes are empty or cannot be
 * found safely. */
bool sg_pty_modes(ssh_message m, const uint8_t **data, size_t *len);

#endif
