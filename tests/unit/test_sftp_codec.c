/* Unit tests: sftp plugin wire codec (plugins/sftp/sftp_codec.c) and config
 * parsing (plugins/sftp/sftp_config.c). */
/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdlib.h>
#include <string.h>

#include "sftp_codec.h"
#include "sftp_config.h"

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_frame_peek(void **state)
{
    uint8_t buf[16] = {0};
    uint32_t n = 0;

    (void)state;
    assert_int_equal(sftp_frame_peek(buf, 0, &n), 0);
    assert_int_equal(sftp_frame_peek(buf, 3, &n), 0);
    be32(buf, 0);
    assert_int_equal(sftp_frame_peek(buf, 4, &n), -1); /* length 0 */
    be32(buf, 0xffffffffu);
    assert_int_equal(sftp_frame_peek(buf, 4, &n), -1); /* 2^32-1 */
    be32(buf, SFTP_MAX_PACKET + 1);
    assert_int_equal(sftp_frame_peek(buf, 16, &n), -1);
    be32(buf, SFTP_MAX_PACKET);
    assert_int_equal(sftp_frame_peek(buf, 16, &n), 0); /* allowed, incomplete */
    be32(buf, 5);
    assert_int_equal(sftp_frame_peek(buf, 8, &n), 0);
    assert_int_equal(sftp_frame_peek(buf, 9, &n), 1);
    assert_int_equal(n, 5);
    assert_int_equal(sftp_frame_peek(buf, 16, &n), 1);
}

static void test_reader_bounds(void **state)
{
    uint8_t buf[12];
    struct sftp_rbuf rb;
    const uint8_t *s;
    uint32_t v32, n;
    uint64_t v64;
    uint8_t v8;

    (void)state;
    be32(buf, 0x01020304);
    be32(buf + 4, 0x05060708);
    be32(buf + 8, 100); /* string length beyond the end */
    sftp_rbuf_init(&rb, buf, sizeof(buf));
    assert_int_equal(sftp_get_u32(&rb, &v32), 0);
    assert_int_equal(v32, 0x01020304);
    assert_int_equal(sftp_get_u8(&rb, &v8), 0);
    assert_int_equal(v8, 5);
    assert_int_equal(sftp_get_u64(&rb, &v64), -1); /* 7 bytes left */
    assert_true(rb.err);
    assert_int_equal(sftp_get_u8(&rb, &v8), -1); /* sticky error */

    sftp_rbuf_init(&rb, buf, sizeof(buf));
    assert_int_equal(sftp_get_u64(&rb, &v64), 0);
    assert_true(v64 == 0x0102030405060708ull);
    assert_int_equal(sftp_get_string(&rb, &s, &n), -1);

    sftp_rbuf_init(&rb, buf, 3);
    assert_int_equal(sftp_get_u32(&rb, &v32), -1);
    sftp_rbuf_init(&rb, NULL, 0);
    assert_int_equal(sftp_get_u8(&rb, &v8), -1);
}

static void test_u32_list(void **state)
{
    uint8_t buf[32];
    struct sftp_rbuf rb, list;
    uint32_t n = 99, v;

    (void)state;
    /* three ids, then an empty list */
    be32(buf, 12);
    be32(buf + 4, 0);
    be32(buf + 8, 65534);
    be32(buf + 12, 0xffffffffu);
    be32(buf + 16, 0);
    sftp_rbuf_init(&rb, buf, 20);
    assert_int_equal(sftp_get_u32_list(&rb, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(sftp_get_u32(&list, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(sftp_get_u32(&list, &v), 0);
    assert_int_equal(v, 65534);
    assert_int_equal(sftp_get_u32(&list, &v), 0);
    assert_true(v == 0xffffffffu);
    assert_int_equal(sftp_get_u32(&list, &v), -1); /* the list ends with its string */
    assert_int_equal(sftp_get_u32_list(&rb, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sftp_rbuf_left(&rb), 0);
    assert_int_equal(sftp_get_u32_list(&rb, &list, &n), -1); /* nothing left */
    assert_true(rb.err);

    /* not a multiple of 4 */
    for (uint32_t len = 1; len < 8; len++) {
        if (len == 4)
            continue;
        memset(buf, 0, sizeof(buf));
        be32(buf, len);
        sftp_rbuf_init(&rb, buf, 4 + len);
        assert_int_equal(sftp_get_u32_list(&rb, &list, &n), -1);
        assert_true(rb.err);
    }
    /* longer than the packet */
    be32(buf, 16);
    sftp_rbuf_init(&rb, buf, 12);
    assert_int_equal(sftp_get_u32_list(&rb, &list, &n), -1);
}

static void test_copy_req(void **state)
{
    struct sftp_wbuf w;
    struct sftp_rbuf rb;
    struct sftp_copy_req r;

    (void)state;
    sftp_wbuf_init(&w);
    sftp_put_string(&w, "RHANDLE1", 8);
    sftp_put_u64(&w, 1234);
    sftp_put_u64(&w, 0);
    sftp_put_string(&w, "WH", 2);
    sftp_put_u64(&w, 0x8000000000000000ull);
    assert_false(w.oom);
    sftp_rbuf_init(&rb, w.p, w.len);
    assert_int_equal(sftp_get_copy_req(&rb, &r), 0);
    assert_int_equal(sftp_rbuf_left(&rb), 0);
    assert_int_equal(r.read_handle_len, 8);
    assert_memory_equal(r.read_handle, "RHANDLE1", 8);
    assert_true(r.read_offset == 1234);
    assert_true(r.length == 0);
    assert_int_equal(r.write_handle_len, 2);
    assert_memory_equal(r.write_handle, "WH", 2);
    assert_true(r.write_offset == 0x8000000000000000ull);
    /* every truncation fails */
    for (size_t cut = 0; cut < w.len; cut++) {
        sftp_rbuf_init(&rb, w.p, cut);
        assert_int_equal(sftp_get_copy_req(&rb, &r), -1);
        assert_true(rb.err);
    }
    sftp_wbuf_free(&w);
}

static void test_get_name(void **state)
{
    uint8_t buf[64];
    char out[SFTP_MAX_PATH + 1];
    struct sftp_rbuf rb;
    uint8_t *big;

    (void)state;
    be32(buf, 5);
    memcpy(buf + 4, "a/b/c", 5);
    sftp_rbuf_init(&rb, buf, 9);
    assert_int_equal(sftp_get_name(&rb, out, sizeof(out)), 0);
    assert_string_equal(out, "a/b/c");

    /* embedded NUL is rejected */
    be32(buf, 5);
    memcpy(buf + 4, "ab\0cd", 5);
    sftp_rbuf_init(&rb, buf, 9);
    assert_int_equal(sftp_get_name(&rb, out, sizeof(out)), -1);
    assert_true(rb.err);

    /* empty name is fine (means ".") */
    be32(buf, 0);
    sftp_rbuf_init(&rb, buf, 4);
    assert_int_equal(sftp_get_name(&rb, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* too long */
    big = calloc(1, SFTP_MAX_PATH + 8);
    assert_non_null(big);
    be32(big, SFTP_MAX_PATH + 1);
    memset(big + 4, 'x', SFTP_MAX_PATH + 1);
    sftp_rbuf_init(&rb, big, SFTP_MAX_PATH + 5);
    assert_int_equal(sftp_get_name(&rb, out, sizeof(out)), -1);
    /* exactly the maximum is accepted */
    be32(big, SFTP_MAX_PATH);
    sftp_rbuf_init(&rb, big, SFTP_MAX_PATH + 4);
    assert_int_equal(sftp_get_name(&rb, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), SFTP_MAX_PATH);
    /* a too small output buffer is an error, never an overflow */
    sftp_rbuf_init(&rb, big, SFTP_MAX_PATH + 4);
    assert_int_equal(sftp_get_name(&rb, out, 16), -1);
    free(big);
}

static void test_attrs_roundtrip(void **state)
{
    struct sftp_attrs a = {0}, b;
    struct sftp_wbuf w;
    struct sftp_rbuf rb;

    (void)state;
    a.flags = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID | SSH_FILEXFER_ATTR_PERMISSIONS |
              SSH_FILEXFER_ATTR_ACMODTIME;
    a.size = 0x123456789ull;
    a.uid = 1000;
    a.gid = 1001;
    a.perm = 0100644;
    a.atime = 1700000000;
    a.mtime = 1700000001;
    sftp_wbuf_init(&w);
    sftp_put_attrs(&w, &a);
    assert_false(w.oom);
    assert_int_equal(w.len, 4 + 8 + 8 + 4 + 8);
    sftp_rbuf_init(&rb, w.p, w.len);
    assert_int_equal(sftp_get_attrs(&rb, &b), 0);
    assert_int_equal(sftp_rbuf_left(&rb), 0);
    assert_memory_equal(&a, &b, sizeof(a));

    /* truncated in the middle */
    sftp_rbuf_init(&rb, w.p, w.len - 1);
    assert_int_equal(sftp_get_attrs(&rb, &b), -1);
    sftp_wbuf_free(&w);
}

static void test_attrs_extended(void **state)
{
    uint8_t buf[64];
    struct sftp_attrs a;
    struct sftp_rbuf rb;
    size_t o = 0;

    (void)state;
    be32(buf, SSH_FILEXFER_ATTR_EXTENDED | SSH_FILEXFER_ATTR_PERMISSIONS);
    be32(buf + 4, 0755);
    be32(buf + 8, 1); /* one pair */
    o = 12;
    be32(buf + o, 3);
    memcpy(buf + o + 4, "foo", 3);
    o += 7;
    be32(buf + o, 3);
    memcpy(buf + o + 4, "bar", 3);
    o += 7;
    sftp_rbuf_init(&rb, buf, o);
    assert_int_equal(sftp_get_attrs(&rb, &a), 0);
    assert_int_equal(a.perm, 0755);
    assert_int_equal(sftp_rbuf_left(&rb), 0);

    /* absurd count must fail fast */
    be32(buf + 8, 0xffffffffu);
    sftp_rbuf_init(&rb, buf, o);
    assert_int_equal(sftp_get_attrs(&rb, &a), -1);
    /* count 2 with only one pair present */
    be32(buf + 8, 2);
    sftp_rbuf_init(&rb, buf, o);
    assert_int_equal(sftp_get_attrs(&rb, &a), -1);
}

static void test_packet_build(void **state)
{
    struct sftp_wbuf w;
    size_t st;
    uint32_t n;

    (void)state;
    sftp_wbuf_init(&w);
    st = sftp_packet_begin(&w, SSH_FXP_STATUS, 7);
    sftp_put_u32(&w, SSH_FX_EOF);
    sftp_put_cstr(&w, "End of file");
    sftp_put_cstr(&w, "en");
    sftp_packet_end(&w, st);
    assert_int_equal(sftp_frame_peek(w.p, w.len, &n), 1);
    assert_int_equal(n, w.len - 4);
    assert_int_equal(w.p[4], SSH_FXP_STATUS);
    /* VERSION has no id */
    st = sftp_packet_begin(&w, SSH_FXP_VERSION, 99);
    sftp_put_u32(&w, 3);
    sftp_packet_end(&w, st);
    assert_int_equal(w.len - st, 4 + 1 + 4);
    /* abort drops it */
    st = sftp_packet_begin(&w, SSH_FXP_DATA, 1);
    sftp_put_u32(&w, 10);
    sftp_packet_abort(&w, st);
    assert_int_equal(w.len, st);
    /* consume from the front, then everything */
    sftp_wbuf_consume(&w, 4);
    assert_int_equal(sftp_wbuf_pending(&w), w.len - 4);
    sftp_wbuf_consume(&w, 1000);
    assert_int_equal(sftp_wbuf_pending(&w), 0);
    sftp_wbuf_free(&w);
}

static void test_wbuf_growth(void **state)
{
    struct sftp_wbuf w;
    uint8_t *p;
    size_t i;

    (void)state;
    sftp_wbuf_init(&w);
    for (i = 0; i < 100000; i++)
        sftp_put_u32(&w, (uint32_t)i);
    assert_false(w.oom);
    assert_int_equal(w.len, 400000);
    sftp_wbuf_consume(&w, 300000);
    p = sftp_wbuf_reserve(&w, 1000);
    assert_non_null(p);
    assert_int_equal(sftp_wbuf_pending(&w), 100000);
    assert_int_equal(w.p[w.head + 3], (uint8_t)75000);
    sftp_wbuf_free(&w);
}

/* A reply built while the queue's front was partly consumed (a blocked
 * send) must stay intact when the buffer grows under it. */
static void test_wbuf_packet_across_growth(void **state)
{
    struct sftp_wbuf w;
    uint8_t *d;
    size_t st, i, off;
    uint32_t n;

    (void)state;
    for (i = 0; i < 3; i++) {
        sftp_wbuf_init(&w);
        /* fill, then consume most of it so head > 0 */
        d = sftp_wbuf_reserve(&w, 200000);
        assert_non_null(d);
        memset(d, 0xaa, 200000);
        w.len += 200000;
        sftp_wbuf_consume(&w, 150000 + i * 20000);
        off = w.head;
        st = sftp_packet_begin(&w, SSH_FXP_DATA, 42);
        d = sftp_wbuf_reserve(&w, 4 + 261120);
        assert_non_null(d);
        memset(d + 4, 0x55, 261120);
        d[0] = 0;
        d[1] = 0x03;
        d[2] = 0xfc;
        d[3] = 0x00; /* 261120 */
        w.len += 4 + 261120;
        sftp_packet_end(&w, st);
        /* the queue: the unconsumed 0xaa bytes, then one well-formed packet */
        assert_int_equal(w.head, off);
        for (size_t k = w.head; k < st; k++)
            assert_int_equal(w.p[k], 0xaa);
        assert_int_equal(sftp_frame_peek(w.p + st, w.len - st, &n), 1);
        assert_int_equal(n, 1 + 4 + 4 + 261120);
        assert_int_equal(w.p[st + 4], SSH_FXP_DATA);
        sftp_wbuf_consume(&w, st - w.head);
        assert_int_equal(sftp_frame_peek(w.p + w.head, sftp_wbuf_pending(&w), &n), 1);
        sftp_wbuf_free(&w);
    }
}

static void test_mode_string(void **state)
{
    char m[11];

    (void)state;
    sftp_mode_string(S_IFREG | 0644, m);
    assert_string_equal(m, "-rw-r--r--");
    sftp_mode_string(S_IFDIR | 0755, m);
    assert_string_equal(m, "drwxr-xr-x");
    sftp_mode_string(S_IFLNK | 0777, m);
    assert_string_equal(m, "lrwxrwxrwx");
    sftp_mode_string(S_IFREG | 04755, m);
    assert_string_equal(m, "-rwsr-xr-x");
    sftp_mode_string(S_IFDIR | 01777, m);
    assert_string_equal(m, "drwxrwxrwt");
    sftp_mode_string(S_IFREG | 0640, m);
    assert_string_equal(m, "-rw-r-----");
}

static void test_longname(void **state)
{
    struct stat st;
    char out[256];
    size_t n;
    time_t now = 1700000000;

    (void)state;
    memset(&st, 0, sizeof(st));
    st.st_mode = S_IFREG | 0644;
    st.st_nlink = 1;
    st.st_size = 1234;
    st.st_mtime = now - 60;
    n = sftp_format_longname(out, sizeof(out), "one.bin", &st, "alice", "users", now);
    assert_int_equal(n, strlen(out));
    assert_non_null(strstr(out, "-rw-r--r--"));
    assert_non_null(strstr(out, " 1234 "));
    assert_non_null(strstr(out, "alice"));
    assert_int_equal(strncmp(out, "-rw-r--r--", 10), 0);
    assert_string_equal(out + n - 8, " one.bin");
    /* old file: year shown */
    st.st_mtime = now - 400 * 24 * 3600;
    sftp_format_longname(out, sizeof(out), "old", &st, "alice", "users", now);
    assert_non_null(strstr(out, "2022"));
    /* truncation is safe */
    n = sftp_format_longname(out, 8, "name", &st, "alice", "users", now);
    assert_int_equal(n, 7);
    assert_int_equal(strlen(out), 7);
}

static void test_config(void **state)
{
    struct sftp_cfg c;
    char err[256];

    (void)state;
    assert_int_equal(sftp_cfg_init(&c), 0);
    assert_string_equal(c.root, "sftp/%u");
    assert_true(c.create_root);
    assert_int_equal(c.root_mode, 0700);
    assert_int_equal(c.umask, 0022);
    assert_int_equal(c.max_read, 261120);
    assert_int_equal(c.max_handles, 256);
    assert_true(sftp_cfg_permits(&c, SFTP_OP_OPEN_WRITE));

    assert_int_equal(sftp_cfg_apply_json(&c,
                                         "{\"root\":\"/srv/%u\",\"root_mode\":\"0750\","
                                         "\"umask\":18,\"read_only\":true}",
                                         err, sizeof(err)),
                     0);
    assert_string_equal(c.root, "/srv/%u");
    assert_int_equal(c.root_mode, 0750);
    assert_int_equal(c.umask, 022);
    assert_false(sftp_cfg_permits(&c, SFTP_OP_OPEN_WRITE));
    assert_false(sftp_cfg_permits(&c, SFTP_OP_REMOVE));
    assert_true(sftp_cfg_permits(&c, SFTP_OP_OPEN_READ));

    /* route config on top */
    assert_int_equal(sftp_cfg_apply_json(&c,
                                         "{\"read_only\":false,\"deny\":[\"remove\"],"
                                         "\"allow\":[\"open-read\",\"remove\",\"list\"]}",
                                         err, sizeof(err)),
                     0);
    assert_true(sftp_cfg_permits(&c, SFTP_OP_OPEN_READ));
    assert_true(sftp_cfg_permits(&c, SFTP_OP_LIST));
    assert_false(sftp_cfg_permits(&c, SFTP_OP_REMOVE)); /* deny wins */
    assert_false(sftp_cfg_permits(&c, SFTP_OP_MKDIR));  /* not in allow */

    assert_int_equal(sftp_cfg_apply_json(&c, "{\"bogus\":1}", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bogus"));
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"deny\":[\"explode\"]}", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "explode"));
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"max_read\":100000000}", err, sizeof(err)), -1);
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"umask\":\"9\"}", err, sizeof(err)), -1);
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"symlinks\":\"everywhere\"}", err, sizeof(err)),
                     -1);
    assert_int_equal(sftp_cfg_apply_json(&c, "[1]", err, sizeof(err)), -1);
    assert_int_equal(sftp_cfg_apply_json(&c, "{", err, sizeof(err)), -1);
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"symlinks\":\"off\"}", err, sizeof(err)), 0);
    assert_int_equal(c.file_mode, 0666);
    assert_int_equal(c.dir_mode, 0777);
    assert_int_equal(
        sftp_cfg_apply_json(&c, "{\"file_mode\":\"0640\",\"dir_mode\":\"0750\"}", err, sizeof(err)),
        0);
    assert_int_equal(c.file_mode, 0640);
    assert_int_equal(c.dir_mode, 0750);
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"file_mode\":\"04755\"}", err, sizeof(err)), -1);
    assert_int_equal(c.symlinks, SFTP_SYMLINKS_OFF);
    sftp_cfg_free(&c);

    /* copy-data: its own operation, a writing one; "copy-data" is an alias */
    assert_int_equal(sftp_cfg_init(&c), 0);
    assert_string_equal(sftp_op_name(SFTP_OP_COPY), "copy");
    assert_true(sftp_cfg_permits(&c, SFTP_OP_COPY));
    assert_int_equal(sftp_cfg_apply_json(&c, "{\"read_only\":true}", err, sizeof(err)), 0);
    assert_false(sftp_cfg_permits(&c, SFTP_OP_COPY));
    assert_int_equal(
        sftp_cfg_apply_json(&c, "{\"read_only\":false,\"deny\":[\"copy\"]}", err, sizeof(err)), 0);
    assert_false(sftp_cfg_permits(&c, SFTP_OP_COPY));
    assert_true(sftp_cfg_permits(&c, SFTP_OP_OPEN_WRITE));
    assert_int_equal(
        sftp_cfg_apply_json(&c, "{\"deny\":[],\"allow\":[\"copy-data\"]}", err, sizeof(err)), 0);
    assert_true(sftp_cfg_permits(&c, SFTP_OP_COPY));
    assert_false(sftp_cfg_permits(&c, SFTP_OP_OPEN_READ));
    sftp_cfg_free(&c);
}

static void test_expand_root(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(sftp_cfg_expand_root("/srv/sftp/%u", "alice", out, sizeof(out)), 0);
    assert_string_equal(out, "/srv/sftp/alice");
    assert_int_equal(sftp_cfg_expand_root("/x/100%%/%u/%u", "b", out, sizeof(out)), 0);
    assert_string_equal(out, "/x/100%/b/b");
    assert_int_equal(sftp_cfg_expand_root("/srv/%u", "../root", out, sizeof(out)), -1);
    assert_int_equal(sftp_cfg_expand_root("/srv/%u", "..", out, sizeof(out)), -1);
    assert_int_equal(sftp_cfg_expand_root("/srv/%u", ".", out, sizeof(out)), -1);
    assert_int_equal(sftp_cfg_expand_root("/srv/%u", "", out, sizeof(out)), -1);
    assert_int_equal(sftp_cfg_expand_root("/srv/%x", "a", out, sizeof(out)), -1);
    assert_int_equal(sftp_cfg_expand_root("/srv/%u", "a", out, 6), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_peek),     cmocka_unit_test(test_reader_bounds),
        cmocka_unit_test(test_get_name),       cmocka_unit_test(test_attrs_roundtrip),
        cmocka_unit_test(test_attrs_extended), cmocka_unit_test(test_packet_build),
        cmocka_unit_test(test_wbuf_growth),    cmocka_unit_test(test_wbuf_packet_across_growth),
        cmocka_unit_test(test_mode_string),    cmocka_unit_test(test_longname),
        cmocka_unit_test(test_config),         cmocka_unit_test(test_expand_root),
        cmocka_unit_test(test_u32_list),       cmocka_unit_test(test_copy_req),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
