/* Unit tests: uid/gid names for sftp long names and users-groups-by-id
 * (plugins/sftp/sftp_idname.c), against this machine's real NSS. */
/* cmocka.h needs these first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "sftp_idname.h"

/* uid 0 and gid 0 are named "root" on every Debian system. */
static void test_known_ids(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(sftp_id_name(true, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "root");
    assert_int_equal(sftp_id_name(false, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "root");
}

/* A buffer too small for the entry (NSS answers ERANGE) is grown until the
 * entry fits: before, a group with a long member list showed as a number. */
static void test_small_buffer_grows(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(sftp_id_name_from(false, 0, out, sizeof(out), 1), 0);
    assert_string_equal(out, "root");
    assert_int_equal(sftp_id_name_from(true, 0, out, sizeof(out), 2), 0);
    assert_string_equal(out, "root");
}

/* The group with the longest entry on this machine (members included) is
 * named, from a first buffer of one byte. */
static void test_longest_group(void **state)
{
    struct group *g;
    size_t best = 0;
    gid_t best_gid = 0;
    char want[256], out[256];

    (void)state;
    setgrent();
    while ((g = getgrent()) != NULL) {
        size_t n = strlen(g->gr_name) + strlen(g->gr_passwd ? g->gr_passwd : "") + 16;
        for (char **m = g->gr_mem; m && *m; m++)
            n += strlen(*m) + sizeof(char *) + 1;
        if (n > best && strlen(g->gr_name) < sizeof(want)) {
            best = n;
            best_gid = g->gr_gid;
            strcpy(want, g->gr_name);
        }
    }
    endgrent();
    if (!best)
        skip();
    assert_int_equal(sftp_id_name_from(false, best_gid, out, sizeof(out), 1), 0);
    assert_string_equal(out, want);
}

/* Unknown ids and names that do not fit give the number and -1. */
static void test_unknown_and_too_long(void **state)
{
    char out[64], tiny[3];

    (void)state;
    assert_null(getpwuid(4000000000u));
    assert_int_equal(sftp_id_name(true, 4000000000u, out, sizeof(out)), -1);
    assert_string_equal(out, "4000000000");
    assert_int_equal(sftp_id_name(false, 0, tiny, sizeof(tiny)), -1); /* "root" needs 5 */
    assert_string_equal(tiny, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_ids),
        cmocka_unit_test(test_small_buffer_grows),
        cmocka_unit_test(test_longest_group),
        cmocka_unit_test(test_unknown_and_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
