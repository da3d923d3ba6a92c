/* test_ldap_escape.c — auth-ldap's pure parts: RFC 4515 filter escaping,
 * RFC 4514 DN escaping, template expansion, first-RDN values, user name
 * checks, key matching and config parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_config.h"
#include "ldap_escape.h"
#include "ldap_keys.h"

#define USER_FILTER "(&(objectClass=posixAccount)(uid=%u))"

static void check_filter(const char *in, size_t len, const char *want)
{
    char *got = sg_ldap_filter_escape(in, len);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void check_dn(const char *in, size_t len, const char *want)
{
    char *got = sg_ldap_dn_escape(in, len);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static char *expand_filter(const char *user)
{
    return sg_ldap_expand(USER_FILTER, user, strlen(user), NULL, SG_LDAP_ESC_FILTER, NULL);
}

/* ---- RFC 4515 ------------------------------------------------------------ */

static void test_filter_specials(void **state)
{
    (void)state;
    check_filter("alice", 5, "alice");
    check_filter("*", 1, "\\2a");
    check_filter("(", 1, "\\28");
    check_filter(")", 1, "\\29");
    check_filter("\\", 1, "\\5c");
    check_filter("a\0b", 3, "a\\00b");
    check_filter("", 0, "");
    check_filter("\x01\x1f\x7f", 3, "\\01\\1f\\7f");
    check_filter("\xc3\xa9", 2, "\\c3\\a9");   /* UTF-8 bytes hex-escaped */
    check_filter("a b=c,d+e", 9, "a b=c,d+e"); /* not special in a filter value */
}

static void test_filter_injection(void **state)
{
    (void)state;
    char *f = expand_filter("*");
    assert_string_equal(f, "(&(objectClass=posixAccount)(uid=\\2a))");
    free(f);
    f = expand_filter("a*)(uid=*");
    assert_string_equal(f, "(&(objectClass=posixAccount)(uid=a\\2a\\29\\28uid=\\2a))");
    free(f);
    f = expand_filter("x)(|(uid=*");
    assert_string_equal(f, "(&(objectClass=posixAccount)(uid=x\\29\\28|\\28uid=\\2a))");
    free(f);
    /* NUL cannot cut the filter short */
    f = sg_ldap_expand(USER_FILTER, "a\0*", 3, NULL, SG_LDAP_ESC_FILTER, NULL);
    assert_string_equal(f, "(&(objectClass=posixAccount)(uid=a\\00\\2a))");
    free(f);
    /* no unescaped special survives: only the template's own parentheses */
    const char *evil = "*)(|(objectClass=*))(&(uid=\\";
    f = expand_filter(evil);
    assert_null(sg_ldap_template_check(f, "", 0, true));
    assert_null(strchr(f + strlen("(&(objectClass=posixAccount)(uid="), '*'));
    free(f);
}

/* ---- RFC 4514 ------------------------------------------------------------ */

static void test_dn_specials(void **state)
{
    (void)state;
    check_dn("alice", 5, "alice");
    check_dn("a,b", 3, "a\\,b");
    check_dn("a+b", 3, "a\\+b");
    check_dn("a\"b", 3, "a\\\"b");
    check_dn("a\\b", 3, "a\\\\b");
    check_dn("a<b>c", 5, "a\\<b\\>c");
    check_dn("a;b", 3, "a\\;b");
    check_dn("a=b", 3, "a\\=b");
    check_dn(" lead", 5, "\\ lead");
    check_dn("trail ", 6, "trail\\ ");
    check_dn(" ", 1, "\\ ");
    check_dn("a b", 3, "a b");
    check_dn("#x", 2, "\\#x");
    check_dn("x#", 2, "x#");
    check_dn("a\0b", 3, "a\\00b");
    check_dn("\n", 1, "\\0a");
    check_dn("\xc3\xa9", 2, "\\c3\\a9");
}

static void test_dn_template(void **state)
{
    (void)state;
    const char *t = "uid=%u,ou=people,dc=example,dc=org";
    char *dn = sg_ldap_expand(t, "bob", 3, NULL, SG_LDAP_ESC_DN, NULL);
    assert_string_equal(dn, "uid=bob,ou=people,dc=example,dc=org");
    free(dn);
    dn = sg_ldap_expand(t, "x,ou=admins", 11, NULL, SG_LDAP_ESC_DN, NULL);
    assert_string_equal(dn, "uid=x\\,ou\\=admins,ou=people,dc=example,dc=org");
    free(dn);
    dn = sg_ldap_expand(t, "*", 1, NULL, SG_LDAP_ESC_DN, NULL);
    assert_string_equal(dn, "uid=*,ou=people,dc=example,dc=org"); /* '*' is plain in a DN */
    free(dn);
}

/* ---- templates ----------------------------------------------------------- */

static void test_expand(void **state)
{
    (void)state;
    const char *err = NULL;
    char *s = sg_ldap_expand("100%% %u", "a", 1, NULL, SG_LDAP_ESC_FILTER, &err);
    assert_string_equal(s, "100% a");
    free(s);
    s = sg_ldap_expand("(|(member=%d)(memberUid=%u))", "bob", 3, "uid=bob,dc=x(y)",
                       SG_LDAP_ESC_FILTER, &err);
    assert_string_equal(s, "(|(member=uid=bob,dc=x\\28y\\29)(memberUid=bob))");
    free(s);
    s = sg_ldap_expand("%x", "a", 1, NULL, SG_LDAP_ESC_FILTER, &err);
    assert_null(s);
    assert_non_null(err);
    err = NULL;
    s = sg_ldap_expand("(member=%d)", "a", 1, NULL, SG_LDAP_ESC_FILTER, &err);
    assert_null(s);
    assert_non_null(err);
    s = sg_ldap_expand("trailing %", "a", 1, NULL, SG_LDAP_ESC_FILTER, &err);
    assert_null(s);
    s = sg_ldap_expand("%u@example.org", "a,b", 3, NULL, SG_LDAP_ESC_NONE, &err);
    assert_string_equal(s, "a,b@example.org");
    free(s);
}

static void test_template_check(void **state)
{
    (void)state;
    assert_null(sg_ldap_template_check(USER_FILTER, "u", 'u', true));
    assert_null(sg_ldap_template_check("(uid=%u)", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("uid=%u", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(uid=%u", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(uid=%u))", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(uid=x)", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(uid=%d)", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(uid=%u)(x=y)", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("", "u", 'u', true));
    assert_null(sg_ldap_template_check("(cn=a\\29b%u)", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(cn=a\\%u)", "u", 'u', true));
    assert_non_null(sg_ldap_template_check("(cn=a\\2)", "", 0, true));
    assert_null(sg_ldap_template_check("(|(member=%d)(memberUid=%u))", "ud", 0, true));
    assert_null(sg_ldap_template_check("uid=%u,ou=people", "u", 'u', false));
    assert_non_null(sg_ldap_template_check("ou=people", "u", 'u', false));
}

/* ---- first RDN value ----------------------------------------------------- */

static void check_rdn(const char *dn, const char *want)
{
    char *got = sg_ldap_dn_first_value(dn, strlen(dn));
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_first_rdn(void **state)
{
    (void)state;
    check_rdn("cn=admins,ou=groups,dc=example,dc=org", "admins");
    check_rdn("CN=Domain Admins,OU=Groups,DC=corp,DC=example", "Domain Admins");
    check_rdn("cn=a\\,b,dc=x", "a,b");
    check_rdn("cn=a\\2cb,dc=x", "a,b");
    check_rdn("cn=x+uid=y,dc=x", "x");
    check_rdn(" cn = admins ,dc=x", "admins");
    check_rdn("cn=trail\\ ,dc=x", "trail ");
    check_rdn("cn=admins", "admins");
    check_rdn("cn=,dc=x", NULL);
    check_rdn("noequals", NULL);
    check_rdn("=x", NULL);
    check_rdn("cn=#04024869", NULL);
    check_rdn("cn=a\\00b", NULL);
    check_rdn("cn=a\\", NULL);
    check_rdn("cn=\"quoted\"", NULL);
    check_rdn("c n=x", NULL);
    char *got = sg_ldap_dn_first_value("cn=a\0b", 6);
    assert_null(got);
}

/* ---- user names ---------------------------------------------------------- */

static void test_user_names(void **state)
{
    (void)state;
    char big[SG_LDAP_MAX_USER + 2];
    memset(big, 'a', sizeof(big));
    assert_true(sg_ldap_user_name_ok("alice", 5));
    assert_true(sg_ldap_user_name_ok("*", 1)); /* allowed: escaped later */
    assert_true(sg_ldap_user_name_ok(big, SG_LDAP_MAX_USER));
    assert_false(sg_ldap_user_name_ok(big, SG_LDAP_MAX_USER + 1));
    assert_false(sg_ldap_user_name_ok("", 0));
    assert_false(sg_ldap_user_name_ok("ali\0ce", 6));
    assert_false(sg_ldap_user_name_ok("a\nb", 3));
    assert_false(sg_ldap_user_name_ok(NULL, 3));
}

/* ---- keys ---------------------------------------------------------------- */

#define KEY_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVhc3Rlcl9lZ2dfYmFzZTY0X2tleV9ibG9i"
#define KEY_B "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyX2tleV9ibG9iX2Zvcl90ZXN0aW5n"

/* Match `value` against `offered` ("type base64"); the entry is released. */
static enum sg_key_match km_len(const char *offered, const char *value, size_t vlen,
                                struct ak_restrict *restr_out, char **from_out)
{
    struct ak_key offer, entry;
    char why[128];
    assert_int_equal(ak_parse_public_key(offered, strlen(offered), &offer, why, sizeof(why)),
                     AK_OK);
    enum sg_key_match m = sg_ldap_key_match(&offer, value, vlen, &entry, why, sizeof(why));
    if (m == SG_KEY_MATCH) {
        if (restr_out)
            ak_restrict_move(restr_out, &entry.restr);
        if (from_out)
            *from_out = entry.from ? strdup(entry.from) : NULL;
    } else {
        assert_null(entry.blob); /* cleared on every other result */
        if (m != SG_KEY_NOMATCH)
            assert_true(why[0] != '\0'); /* a reason for the log */
    }
    ak_key_clear(&entry);
    ak_key_clear(&offer);
    return m;
}

static enum sg_key_match km(const char *offered, const char *value)
{
    return km_len(offered, value, strlen(value), NULL, NULL);
}

static void test_keys(void **state)
{
    (void)state;
    assert_int_equal(km(KEY_A, KEY_A), SG_KEY_MATCH);
    assert_int_equal(km(KEY_A " me@host", KEY_A " other comment"), SG_KEY_MATCH);
    assert_int_equal(km(KEY_A, "  " KEY_A "\n"), SG_KEY_MATCH);
    assert_int_equal(km(KEY_A, KEY_B), SG_KEY_NOMATCH);
    /* the type inside the blob must be the written type */
    assert_int_equal(
        km(KEY_A, "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGVhc3Rlcl9lZ2dfYmFzZTY0X2tleV9ibG9i"),
        SG_KEY_BAD);
    assert_int_equal(km(KEY_A, ""), SG_KEY_BAD);
    assert_int_equal(km(KEY_A, "# " KEY_A), SG_KEY_BAD);
    assert_int_equal(km(KEY_A, "ssh-ed25519"), SG_KEY_BAD);
    assert_int_equal(km(KEY_A, "ssh-ed25519 not*base64"), SG_KEY_BAD);
    assert_int_equal(km_len(KEY_A, KEY_A "\0x", strlen(KEY_A) + 2, NULL, NULL), SG_KEY_BAD);
    assert_int_equal(km(KEY_A, "from=\"10.0.0.1 " KEY_A), SG_KEY_BAD); /* open quote */
    /* options the host cannot honour never match (fail closed) */
    assert_int_equal(km(KEY_A, "tunnel=\"1\" " KEY_A), SG_KEY_UNSUPPORTED);
    assert_int_equal(km(KEY_A, "frobnicate " KEY_A), SG_KEY_UNSUPPORTED);
}

/* Values with authorized_keys options match and carry the options. */
static void test_key_options(void **state)
{
    struct ak_restrict r = {0};
    char *from = NULL;
    (void)state;
    assert_int_equal(km_len(KEY_A, "from=\"10.0.0.0/8\" " KEY_A,
                            strlen("from=\"10.0.0.0/8\" " KEY_A), &r, &from),
                     SG_KEY_MATCH);
    assert_string_equal(from, "10.0.0.0/8");
    assert_false(ak_restrict_any(&r));
    free(from);
    from = NULL;
    const char *v = "restrict,pty,permitopen=\"db:5432\",command=\"backup --now\" " KEY_A " c";
    assert_int_equal(km_len(KEY_A, v, strlen(v), &r, &from), SG_KEY_MATCH);
    assert_null(from);
    assert_int_equal(r.flags, AK_RESTRICT_PORT_FORWARDING);
    assert_int_equal(r.n_open, 1);
    assert_string_equal(r.open[0], "db:5432");
    assert_string_equal(r.command, "backup --now");
    ak_restrict_clear(&r);
    /* a value with options for another key is still no match */
    v = "restrict " KEY_B;
    assert_int_equal(km_len(KEY_A, v, strlen(v), &r, NULL), SG_KEY_NOMATCH);
}

/* ---- config -------------------------------------------------------------- */

static struct sg_ldap_conf *parse(const char *json, char *err)
{
    return sg_ldap_conf_parse(json, NULL, err, 512);
}

static void test_config_defaults(void **state)
{
    (void)state;
    char err[512];
    struct sg_ldap_conf *c =
        parse("{\"uris\":[\"ldap://127.0.0.1:389/\"],\"base_dn\":\"dc=example,dc=org\"}", err);
    assert_non_null(c);
    assert_int_equal(c->mode, SG_LDAP_MODE_SEARCH);
    assert_string_equal(c->user_filter, USER_FILTER);
    assert_string_equal(c->key_attribute, "sshPublicKey");
    assert_string_equal(c->group_name_attribute, "cn");
    assert_int_equal(c->timeout_ms, 5000);
    assert_int_equal(c->network_timeout_ms, 3000);
    assert_int_equal(c->pool_size, 4);
    assert_true(c->verify_hostname);
    assert_true(c->use_member_of);
    assert_false(c->authoritative);
    assert_false(c->starttls);
    assert_null(c->bind_dn);
    sg_ldap_conf_free(c);
}

static void test_config_modes(void **state)
{
    (void)state;
    char err[512], desc[1024];
    struct sg_ldap_conf *c = parse("{\"uris\":[\"ldaps://a/\",\"ldap://b/\"],"
                                   "\"bind_dn_template\":\"uid=%u,ou=people,dc=x\"}",
                                   err);
    assert_non_null(c);
    assert_int_equal(c->mode, SG_LDAP_MODE_TEMPLATE);
    assert_int_equal(c->n_uris, 2);
    sg_ldap_conf_free(c);
    c = parse("{\"uris\":[\"ldap://dc1/\"],\"base_dn\":\"dc=corp\",\"ad_domain\":\"corp.example\","
              "\"bind_dn\":\"cn=svc\",\"bind_password\":\"s3cret\"}",
              err);
    assert_non_null(c);
    assert_int_equal(c->mode, SG_LDAP_MODE_AD);
    assert_string_equal(c->user_filter, "(&(objectClass=user)(sAMAccountName=%u))");
    sg_ldap_conf_describe(c, desc, sizeof(desc));
    assert_null(strstr(desc, "s3cret"));
    assert_non_null(strstr(desc, "bind_password=********"));
    sg_ldap_conf_free(c);
}

static void test_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{}", "uris"},
        {"{\"uris\":[]}", "uris"},
        {"{\"uris\":[\"http://x/\"],\"base_dn\":\"dc=x\"}", "scheme"},
        {"{\"uris\":[\"ldap://x/ ldap://y/\"],\"base_dn\":\"dc=x\"}", "one URI"},
        {"{\"uris\":[\"ldap://x/\"]}", "base_dn"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"timeout\":5}", "did you mean"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"bind_dn\":\"cn=a\"}", "bind_password"},
        {"{\"uris\":[\"ldap://x/"
         "\"],\"base_dn\":\"dc=x\",\"bind_dn\":\"cn=a\",\"bind_password\":\"\"}",
         "bind_password"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"timeout_ms\":5}", "timeout_ms"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"pool_size\":\"4\"}", "wrong type"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"user_filter\":\"uid=%u\"}",
         "user_filter"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"user_filter\":\"(uid=alice)\"}", "%u"},
        {"{\"uris\":[\"ldap://x/\"],\"bind_dn_template\":\"ou=people\"}", "bind_dn_template"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"attributes\":[\"bad attr\"]}",
         "attributes"},
        {"{\"uris\":[\"ldap://x/\"],\"base_dn\":\"dc=x\",\"ca_file\":\"/nonexistent/ca.pem\"}",
         "ca_file"},
        {"{\"uris\":[\"ldap://x/"
         "\"],\"base_dn\":\"dc=x\",\"ad_domain\":\"a\",\"bind_dn_template\":\"uid=%u\"}",
         "exclude"},
        {"[1]", "object"},
        {"{\"uris\":", "line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        struct sg_ldap_conf *c = parse(bad[i].json, err);
        if (c || !strstr(err, bad[i].needle))
            fail_msg("case %zu (%s): got \"%s\"", i, bad[i].json, err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_specials),
        cmocka_unit_test(test_filter_injection),
        cmocka_unit_test(test_dn_specials),
        cmocka_unit_test(test_dn_template),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_template_check),
        cmocka_unit_test(test_first_rdn),
        cmocka_unit_test(test_user_names),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_key_options),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_modes),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
