/*
 * fuzz_sshparam.c — libFuzzer target for the SSH param codec (core/sshparam.c).
 *
 * Input layout: byte 0 selects the mode, byte 1 an output size hint.
 *   mode even: decode — the rest is a payload; every well-known field of
 *     every request type (pty-req, env, exec, subsystem, window-change,
 *     signal, direct-tcpip, tcpip-forward, ...) and a type list derived from
 *     the first payload bytes are read as text and as bytes, with a full and
 *     a small output buffer. Results must be consistent: text and bytes agree
 *     on success, lengths stay within the buffers, NUL termination holds.
 *   mode odd: round trip — the rest is a list of (type byte, NUL-terminated
 *     value) pairs appended with sg_param_set; every accepted field is read
 *     back (a one-type "%" list at its offset) and must re-encode to the same
 *     wire bytes (set(get(set(v))) == set(v)); "s" values come back
 *     unchanged, the bytes form is the field without its length prefix, and
 *     the "%" list of all fields lands on the last one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin.h"
#include "sshparam.h"

static const char *const types[] = {"s", "sb", "m", "i", "l", "b", "f"};
#define NTYPES (sizeof(types) / sizeof(types[0]))
#define OUT_MAX (2 * 65536 + 16)

static char text[OUT_MAX];
static uint8_t bytes[OUT_MAX];

static void check_text(long rc, size_t out_size)
{
    if (rc >= 0) {
        if ((size_t)rc >= out_size || text[rc] != '\0')
            abort();
    } else if (rc != SG_E_INVAL && rc != SG_E_NOTFOUND && rc != SG_E_LIMIT && rc != SG_E_NOMEM) {
        abort();
    }
}

static void decode_field(const uint8_t *p, size_t len, const char *rt, const char *field,
                         size_t small)
{
    long t = sg_param_get(p, len, rt, field, text, sizeof(text));
    check_text(t, sizeof(text));
    long b = sg_param_get_bytes(p, len, rt, field, bytes, sizeof(bytes));
    if (b >= 0 && (size_t)b > sizeof(bytes))
        abort();
    /* Both forms locate the same field: same success / failure class,
     * except the mpint cap and text growth (hex, decimal) can give LIMIT. */
    if ((t == SG_E_INVAL || t == SG_E_NOTFOUND) && t != b)
        abort();
    if ((b == SG_E_INVAL || b == SG_E_NOTFOUND) && t != b)
        abort();
    long ts = sg_param_get(p, len, rt, field, text, small);
    check_text(ts, small);
    if (t >= 0 && (size_t)t < small && ts != t)
        abort();
    if (t >= 0 && (size_t)t >= small && ts != SG_E_LIMIT)
        abort();
    long bs = sg_param_get_bytes(p, len, rt, field, bytes, small);
    if (b >= 0 && (size_t)b <= small && bs != b)
        abort();
    if (b >= 0 && (size_t)b > small && bs != SG_E_LIMIT)
        abort();
}

static void decode(const uint8_t *p, size_t len, size_t small)
{
    const char *rt;
    for (size_t r = 0; (rt = sg_param_request_type(r)) != NULL; r++) {
        const char *name;
        for (size_t f = 0; (name = sg_param_field_name(rt, f, NULL)) != NULL; f++)
            decode_field(p, len, rt, name, small);
    }
    decode_field(p, len, "forwarded-tcpip", "Host", small);
    decode_field(p, len, "forwarded-tcpip", "Port", small);
    decode_field(p, len, "pty-req", "NoSuchField", small);
    decode_field(p, len, "no-such-request", "Command", small);

    /* A type list from the first bytes of the payload. */
    char list[64] = "%";
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(list, ",");
        strcat(list, types[p[i] % NTYPES]);
    }
    decode_field(p, len, NULL, list, small);
}

static void round_trip(const uint8_t *p, size_t len)
{
    static uint8_t wire[8192], wire2[8192];
    size_t wlen = 0;
    char list[4096] = "%";
    size_t nfields = 0;
    size_t i = 0;
    char value[4096];
    static char last_text[16384];
    long last_text_len = -1;

    while (i < len && nfields < 200) {
        const char *type = types[p[i++] % NTYPES];
        size_t vlen = 0;
        while (i < len && p[i] != '\0' && vlen < sizeof(value) - 1)
            value[vlen++] = (char)p[i++];
        value[vlen] = '\0';
        if (i < len)
            i++; /* the NUL */

        size_t before = wlen;
        long rc = sg_param_set(wire, &wlen, sizeof(wire), type, value);
        if (rc < 0) {
            if (wlen != before)
                abort(); /* failures append nothing */
            continue;
        }
        if ((size_t)rc != wlen || wlen <= before)
            abort();
        if (nfields)
            strcat(list, ",");
        strcat(list, type);
        nfields++;

        /* read back the field just written (from its own offset: linear) */
        char one[4] = "%";
        strcat(one, type);
        long t = sg_param_get(wire + before, wlen - before, NULL, one, text, sizeof(text));
        if (t < 0) {
            if (!(t == SG_E_LIMIT && strcmp(type, "m") == 0))
                abort();
            last_text_len = -1;
            continue;
        }
        if (strcmp(type, "s") == 0 && strcmp(text, value) != 0)
            abort();
        if (strcmp(type, "sb") == 0 && strcasecmp(text, value) != 0)
            abort();
        /* re-encode the text: identical wire bytes */
        size_t w2 = 0;
        if (sg_param_set(wire2, &w2, sizeof(wire2), type, text) < 0)
            abort();
        if (w2 != wlen - before || memcmp(wire2, wire + before, w2) != 0)
            abort();
        /* bytes form: the field without its length prefix */
        long b = sg_param_get_bytes(wire + before, wlen - before, NULL, one, bytes, sizeof(bytes));
        size_t prefix = (strcmp(type, "s") == 0 || strcmp(type, "sb") == 0 ||
                         strcmp(type, "m") == 0) ? 4 : 0;
        if (b < 0 || (size_t)b + prefix != w2 || memcmp(bytes, wire2 + prefix, (size_t)b) != 0)
            abort();
        last_text_len = (size_t)t < sizeof(last_text) ? t : -1;
        if (last_text_len >= 0)
            memcpy(last_text, text, (size_t)t + 1);
    }
    /* the whole list walks every field and lands on the last one */
    if (nfields > 0 && last_text_len >= 0) {
        long t = sg_param_get(wire, wlen, NULL, list, text, sizeof(text));
        if (t != last_text_len || memcmp(text, last_text, (size_t)t) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t small = data[1] % 48;
    if (data[0] & 1)
        round_trip(data + 2, size - 2);
    else
        decode(data + 2, size - 2, small);
    return 0;
}
