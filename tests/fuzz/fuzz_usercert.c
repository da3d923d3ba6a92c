/* fuzz_usercert.c — libFuzzer target over the OpenSSH user certificate code
 * of plugins/auth-file: the blob parser, the checks (validity, principals,
 * critical options, source-address, the CA signature through OpenSSL with
 * whatever CA key the input carries), the trust-anchor match (an anchor made
 * of the certificate's own CA key, with and without principals=), the
 * restriction merge and the fingerprint. The input is also tried as the
 * text form "type base64".
 *
 * Built by tests/fuzz/CMakeLists.txt: a smoke test with standalone_main.c
 * (ctest fuzz.usercert), and a libFuzzer binary with -DSSHGATE_FUZZ=ON.
 * Seeds in corpus/usercert are real ssh-keygen certificates (raw blobs).
 */
#include "authorized_keys.h"
#include "usercert.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A cert-authority anchor holding the certificate's own CA key. */
static void anchor_of(const struct uc_cert *c, struct ak_key *k, char *principals)
{
    memset(k, 0, sizeof *k);
    snprintf(k->type, sizeof k->type, "%s", c->ca.type);
    k->blob = (uint8_t *)c->ca_blob.p; /* borrowed: never ak_key_clear'ed */
    k->blob_len = c->ca_blob.len;
    k->cert_authority = true;
    k->principals = principals;
}

static void exercise(const struct uc_cert *c)
{
    static const char *const peers[] = {"127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1"};
    static const time_t times[] = {0, 1700000000, 4102444800};
    char why[300], fp[80], principals[] = "alice,ops";
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        for (size_t t = 0; t < sizeof times / sizeof times[0]; t++)
            (void)uc_check(c, peers[i], times[t], why, sizeof why);
    (void)uc_verify_signature(c, why, sizeof why);
    struct ak_key k;
    anchor_of(c, &k, NULL);
    if (!uc_signed_by(c, &k))
        abort(); /* an anchor made of the CA key must match it */
    (void)uc_vouches(&k, true, c, "alice", "127.0.0.1", 1700000000, why, sizeof why);
    (void)uc_vouches(&k, false, c, "root", "127.0.0.1", 1700000000, why, sizeof why);
    anchor_of(c, &k, principals);
    (void)uc_vouches(&k, true, c, "bob", "10.1.2.3", 1700000000, why, sizeof why);
    struct ak_restrict r = {0};
    (void)uc_restrict_add(&r, c, why, sizeof why);
    (void)uc_restrict_add(&r, c, why, sizeof why);
    ak_restrict_clear(&r);
    uc_ca_fingerprint(c, fp, sizeof fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct uc_cert c;
    char why[300];
    if (uc_parse(data, size, &c, why, sizeof why) == 0) {
        exercise(&c);
        uc_cert_clear(&c);
    }
    if (uc_parse_text((const char *)data, size, &c, why, sizeof why) == 0) {
        exercise(&c);
        uc_cert_clear(&c);
    }
    return 0;
}
