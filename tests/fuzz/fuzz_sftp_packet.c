/*
 * fuzz_sftp_packet.c — libFuzzer target for the SFTP wire codec
 * (plugins/sftp/sftp_codec.c): the packet framer fed in arbitrary chunks,
 * then every framed packet decoded the way the plugin's handlers decode it.
 *
 * Input layout: byte 0 seeds the chunk sizes (1..64 bytes, or whole input
 * when 0); the rest is the client byte stream. The stream is appended to a
 * buffer chunk by chunk, like channel data arriving; after each chunk every
 * complete packet is taken out. Invariants: the framer never reports a
 * packet larger than the buffered bytes or than SFTP_MAX_PACKET, and once it
 * reports a bad length the stream is abandoned (as the plugin does). Each
 * packet body is decoded per type with the length-checked readers (the
 * copy-data and users-groups-by-id extension requests too); replies are
 * encoded back (attrs round trip must be exact).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sftp_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_attrs_roundtrip(const struct sftp_attrs *a)
{
    struct sftp_wbuf w;
    struct sftp_rbuf rb;
    struct sftp_attrs b;
    struct sftp_attrs clean = *a;

    clean.flags &= ~SSH_FILEXFER_ATTR_EXTENDED;
    sftp_wbuf_init(&w);
    sftp_put_attrs(&w, &clean);
    if (w.oom)
        abort();
    sftp_rbuf_init(&rb, w.p, w.len);
    if (sftp_get_attrs(&rb, &b) != 0 || sftp_rbuf_left(&rb) != 0)
        abort();
    if (memcmp(&b, &clean, sizeof(b)) != 0)
        abort();
    sftp_wbuf_free(&w);
}

static void get_path(struct sftp_rbuf *rb)
{
    static char name[SFTP_MAX_PATH + 1];

    if (sftp_get_name(rb, name, sizeof(name)) == 0 && strlen(name) > SFTP_MAX_PATH)
        abort();
}

static bool ext_is(const uint8_t *s, uint32_t n, const char *name)
{
    return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* users-groups-by-id@openssh.com: two packed uint32 lists */
static void decode_id_lists(struct sftp_rbuf *rb)
{
    struct sftp_rbuf list;
    uint32_t count, i, v;

    for (int k = 0; k < 2; k++) {
        if (sftp_get_u32_list(rb, &list, &count) < 0)
            return;
        if ((size_t)count * 4 != list.len || list.p < rb->p || list.p + list.len > rb->p + rb->len)
            abort();
        for (i = 0; i < count; i++)
            if (sftp_get_u32(&list, &v) < 0)
                abort();
        if (sftp_get_u32(&list, &v) == 0)
            abort();
    }
}

static void decode_copy(struct sftp_rbuf *rb)
{
    struct sftp_copy_req r;

    if (sftp_get_copy_req(rb, &r) < 0)
        return;
    if (r.read_handle < rb->p || r.read_handle + r.read_handle_len > rb->p + rb->len ||
        r.write_handle < rb->p || r.write_handle + r.write_handle_len > rb->p + rb->len)
        abort();
}

static void decode(const uint8_t *body, size_t len)
{
    struct sftp_rbuf rb;
    struct sftp_attrs a;
    const uint8_t *s;
    uint32_t id, u32, n;
    uint64_t u64;
    uint8_t type;

    sftp_rbuf_init(&rb, body, len);
    if (sftp_get_u8(&rb, &type) < 0)
        return;
    if (type == SSH_FXP_INIT) {
        (void)sftp_get_u32(&rb, &u32);
        return;
    }
    if (sftp_get_u32(&rb, &id) < 0)
        return;
    switch (type) {
    case SSH_FXP_OPEN:
        get_path(&rb);
        (void)sftp_get_u32(&rb, &u32);
        if (sftp_get_attrs(&rb, &a) == 0)
            check_attrs_roundtrip(&a);
        break;
    case SSH_FXP_CLOSE:
    case SSH_FXP_FSTAT:
    case SSH_FXP_READDIR:
        (void)sftp_get_string(&rb, &s, &n);
        break;
    case SSH_FXP_READ:
        (void)sftp_get_string(&rb, &s, &n);
        (void)sftp_get_u64(&rb, &u64);
        (void)sftp_get_u32(&rb, &u32);
        break;
    case SSH_FXP_WRITE:
        (void)sftp_get_string(&rb, &s, &n);
        (void)sftp_get_u64(&rb, &u64);
        if (sftp_get_string(&rb, &s, &n) == 0 && (s < body || s + n > body + len))
            abort();
        break;
    case SSH_FXP_SETSTAT:
    case SSH_FXP_MKDIR:
        get_path(&rb);
        if (sftp_get_attrs(&rb, &a) == 0)
            check_attrs_roundtrip(&a);
        break;
    case SSH_FXP_FSETSTAT:
        (void)sftp_get_string(&rb, &s, &n);
        if (sftp_get_attrs(&rb, &a) == 0)
            check_attrs_roundtrip(&a);
        break;
    case SSH_FXP_RENAME:
    case SSH_FXP_SYMLINK:
        get_path(&rb);
        get_path(&rb);
        break;
    case SSH_FXP_EXTENDED:
        if (sftp_get_string(&rb, &s, &n) < 0)
            break;
        if (ext_is(s, n, "copy-data")) {
            decode_copy(&rb);
        } else if (ext_is(s, n, "users-groups-by-id@openssh.com")) {
            decode_id_lists(&rb);
        } else if (ext_is(s, n, "home-directory")) {
            (void)sftp_get_string(&rb, &s, &n);
        } else {
            get_path(&rb);
            get_path(&rb);
        }
        break;
    default:
        get_path(&rb);
        break;
    }
    if (rb.off > rb.len)
        abort();
}

static void reply_encode(uint32_t id, const uint8_t *body, size_t len)
{
    struct sftp_wbuf w;
    size_t st;
    uint32_t n;

    sftp_wbuf_init(&w);
    st = sftp_packet_begin(&w, SSH_FXP_DATA, id);
    sftp_put_string(&w, body, len);
    sftp_packet_end(&w, st);
    if (!w.oom && len + 9 <= SFTP_MAX_PACKET &&
        (sftp_frame_peek(w.p, w.len, &n) != 1 || n != w.len - 4))
        abort();
    sftp_wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    size_t have = 0, pos, chunk, seed;
    uint32_t blen;
    int r;

    if (size < 1)
        return 0;
    seed = data[0];
    data++;
    size--;
    buf = malloc(size + 1);
    if (!buf)
        return 0;
    pos = 0;
    while (pos < size) {
        chunk = seed ? 1 + (seed * (pos + 7)) % 64 : size - pos;
        if (chunk > size - pos)
            chunk = size - pos;
        memcpy(buf + have, data + pos, chunk);
        have += chunk;
        pos += chunk;
        for (;;) {
            r = sftp_frame_peek(buf, have, &blen);
            if (r < 0)
                goto out; /* the plugin ends the session here */
            if (r == 0)
                break;
            if (blen == 0 || blen > SFTP_MAX_PACKET || (size_t)blen + 4 > have)
                abort();
            decode(buf + 4, blen);
            reply_encode(blen, buf + 4, blen);
            memmove(buf, buf + 4 + blen, have - 4 - blen);
            have -= 4 + (size_t)blen;
        }
    }
out:
    free(buf);
    return 0;
}
