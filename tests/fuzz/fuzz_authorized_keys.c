/* fuzz_authorized_keys.c — libFuzzer target over the authorized_keys line
 * parser of plugins/auth-file (options, quotes, base64, blob type check) and
 * the from= pattern matcher.
 *
 * Built by tests/fuzz/CMakeLists.txt: a smoke test with standalone_main.c
 * (ctest fuzz.authorized_keys), and a libFuzzer binary with -DSSHGATE_FUZZ=ON.
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
