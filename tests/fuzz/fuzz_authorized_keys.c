/* fuzz_authorized_keys.c — libFuzzer target over the authorized_keys line
 * parser of plugins/auth-file (options, quotes, base64, blob type check) and
 * the from= pattern matcher.
 *
 * Build with -DSSHGATE_FUZZ=ON (clang, -fsanitize=fuzzer). Without it, the
 * same file builds with SG_FUZZ_REPLAY_MAIN: a main() that replays every file
 * of the given directories/files once (a ctest smoke run over the corpus).
 */
#include "addr_match.h"
#include "authorized_keys.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const peers[] = {"127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1",
                                        "2001:db8::5"};
    struct ak_key k, pub;
    char err[200];

    if (ak_parse_line((const char *)data, size, &k, err, sizeof err) == AK_OK) {
        for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
            (void)ak_key_options_allow(&k, peers[i], 1700000000, err, sizeof err);
        if (!ak_key_same(&k, &k))
            abort();
        ak_key_clear(&k);
    }
    if (ak_parse_public_key((const char *)data, size, &pub, err, sizeof err) == AK_OK)
        ak_key_clear(&pub);

    /* the input as a from= pattern list (NUL-terminated copy, bounded) */
    if (size <= AK_MAX_OPTION_VALUE) {
        char *pat = malloc(size + 1);
        if (pat) {
            memcpy(pat, data, size);
            pat[size] = '\0';
            if (strlen(pat) == size)
                for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
                    (void)addr_match_list(peers[i], pat);
            free(pat);
        }
    }
    return 0;
}

#ifdef SG_FUZZ_REPLAY_MAIN
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0)
                return 1;
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (replay_file(path) != 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        closedir(d);
    }
    printf("replayed %d input(s)\n", files);
    return files > 0 ? 0 : 1;
}
#endif
