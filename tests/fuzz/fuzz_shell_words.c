/* fuzz_shell_words.c — libFuzzer target for the exec command word splitter
 * and argv template expansion (plugins/shell/shell_words.c).
 *
 * Input: the first byte selects one of a few fixed templates; the rest is
 * the command. Checks invariants: a successful split never yields words with
 * NUL inside or more bytes than the command; expansion never crashes and
 * with "{*}" yields exactly words-1 (+ fixed) elements. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shell_words.h"

static const char *const tmpl_a[] = {"/usr/bin/git-upload-pack", "{1}"};
static const char *const tmpl_b[] = {"/usr/bin/rsync", "{*}"};
static const char *const tmpl_c[] = {"/bin/deploy", "--app={1}", "--env={{{2}}}", "{0}"};
static const char *const tmpl_d[] = {"/bin/x", "{*}", "--", "{1}"};

static const struct {
    const char *const *t;
    size_t n;
    long nargs;
} tmpls[] = {
    {tmpl_a, 2, 1},
    {tmpl_b, 2, -1},
    {tmpl_c, 4, 2},
    {tmpl_d, 4, -1},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sw_words w = {0}, out = {0};
    if (size < 1)
        return 0;
    size_t which = data[0] % (sizeof(tmpls) / sizeof(tmpls[0]));
    const char *cmd = (const char *)data + 1;
    size_t len = size - 1;
    int rc = sw_split(cmd, len, 4096, &w);
    if (rc != SW_OK) {
        if (w.v || w.n)
            abort();
        return 0;
    }
    size_t total = 0;
    for (size_t i = 0; i < w.n; i++)
        total += strlen(w.v[i]);
    if (w.n == 0 || total > len || w.v[w.n])
        abort();
    rc = sw_expand(tmpls[which].t, tmpls[which].n, &w, tmpls[which].nargs, &out);
    if (rc == SW_OK) {
        if (!out.v || out.v[out.n] || out.n == 0)
            abort();
        if (which == 1 && out.n != 1 + (w.n - 1))
            abort();
    } else if (out.v) {
        abort();
    }
    sw_words_free(&out);
    sw_words_free(&w);
    return 0;
}
