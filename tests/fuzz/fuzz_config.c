/*
 * fuzz_config.c — libFuzzer target for the config loader (core/config*.c).
 *
 * The input is a config text. Checked on every input:
 *   - sg_config_load_string never crashes; on failure the error is one
 *     NUL-terminated line that starts with the config name;
 *   - on success the effective config dumps, the dump loads again, and the
 *     second dump is byte-identical to the first (dump round trip);
 *   - the position scanner, sg_cidr_parse and the client-pattern checks
 *     accept arbitrary text (the input itself, broken or not).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "config_json_pos.h"

#define MAX_INPUT (64 * 1024)

static void quiet(const char *msg, void *ud)
{
    (void)msg;
    (void)ud;
}

static char *dump_text(const struct sg_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp)
        abort();
    if (sg_config_dump(cfg, fp, false, NULL) != 0)
        abort();
    fclose(fp);
    return buf;
}

static void check_error(const char *err, size_t errlen, const char *name)
{
    if (strnlen(err, errlen) == errlen)
        abort(); /* not terminated */
    if (strncmp(err, name, strlen(name)) != 0)
        abort();
    if (strchr(err, '\n'))
        abort(); /* one line */
}

static void poke_helpers(const char *text, size_t len)
{
    static const char *const paths[] = {"$", "$.listen[0].port", "$.routes[1].match.kind",
                                        "$.plugins[0].config", "$.a"};
    int line, col;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (sg_json_pos_find(text, len, paths[i], i & 1, &line, &col) == 0 && (line < 1 || col < 1))
            abort();
    }
    if (len < 128) {
        struct sg_cidr c;
        uint8_t a4[4] = {10, 1, 2, 3};
        uint8_t a6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
        if (sg_cidr_parse(text, &c) == 0) {
            char buf[64];
            struct sg_cidr d;
            if (sg_cidr_format(&c, buf, sizeof(buf)) != 0 || sg_cidr_parse(buf, &d) != 0 ||
                memcmp(&c, &d, sizeof(c)) != 0)
                abort();
            /* a v4 CIDR matches a v4 address exactly when it matches its mapped form */
            if (c.family == AF_INET &&
                sg_cidr_match(&c, AF_INET, a4) != sg_cidr_match(&c, AF_INET6, a6))
                abort();
        }
        if (sg_client_pattern_valid(text)) {
            (void)sg_client_pattern_match(text, AF_INET, a4);
            (void)sg_client_pattern_match(text, AF_INET6, a6);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    char *text, *d1 = NULL, *d2 = NULL;
    struct sg_config *a = NULL, *b = NULL;

    if (size > MAX_INPUT)
        return 0;
    sg_config_set_warning_cb(quiet, NULL);
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    poke_helpers(text, size);
    a = sg_config_load_string(text, "fuzz.json", err, sizeof(err));
    if (!a) {
        check_error(err, sizeof(err), "fuzz.json");
        goto out;
    }
    d1 = dump_text(a);
    b = sg_config_load_string(d1, "dump.json", err, sizeof(err));
    if (!b) {
        fprintf(stderr, "dump does not load: %s\n%s\n", err, d1);
        abort();
    }
    d2 = dump_text(b);
    if (strcmp(d1, d2) != 0) {
        fprintf(stderr, "dump round trip differs:\n%s\n---\n%s\n", d1, d2);
        abort();
    }
out:
    sg_config_free(a);
    sg_config_free(b);
    free(d1);
    free(d2);
    free(text);
    return 0;
}
