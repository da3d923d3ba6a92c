/* pty_modes.c — the terminal modes of a pty-req (see pty_modes.h). */
#include "pty_modes.h"

#include <malloc.h>
#include <string.h>

/* the pty-req getters are marked deprecated in favour of the callback API,
 * which sshgate does not use (queue mode, see session.c) */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* The run of fields in libssh's channel-request part of a message, from the
 * TERM pointer on. TERM is pointer-aligned in libssh's struct, so the
 * offsets inside this run are the same as in this mirror. */
struct pty_run {
    char *term;
    uint32_t width, height, pxwidth, pxheight;
    ssh_string modes;
};

bool sg_pty_modes(ssh_message m, const uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!m || ssh_message_type(m) != SSH_REQUEST_CHANNEL ||
        ssh_message_subtype(m) != SSH_CHANNEL_REQUEST_PTY)
        return false;
    const char *term = ssh_message_channel_request_pty_term(m);
    if (!term)
        return false;
    const uint32_t dims[4] = {(uint32_t)ssh_message_channel_request_pty_width(m),
                              (uint32_t)ssh_message_channel_request_pty_height(m),
                              (uint32_t)ssh_message_channel_request_pty_pxwidth(m),
                              (uint32_t)ssh_message_channel_request_pty_pxheight(m)};
    /* the message is one calloc'd block: look only inside it */
    size_t size = malloc_usable_size(m);
    const unsigned char *base = (const unsigned char *)m;
    for (size_t o = 0; o + sizeof(struct pty_run) <= size; o += _Alignof(char *)) {
        struct pty_run run;
        memcpy(&run, base + o, sizeof(run));
        if (run.term != term || run.width != dims[0] || run.height != dims[1] ||
            run.pxwidth != dims[2] || run.pxheight != dims[3])
            continue;
        if (!run.modes)
            return false;
        size_t n = ssh_string_len(run.modes);
        if (n == 0 || n > SG_PTY_MODES_MAX)
            return false;
        *data = ssh_string_data(run.modes);
        *len = n;
        return true;
    }
    return false;
}
