/* test_tunnel_policy.c — tunnel policy: patterns, CIDRs, mapped v6,
 * non-canonical numerics, link-local, loopback, self ports, listen rules,
 * and the JSON config (plugins/tunnel/tunnel_policy.c, tunnel_config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel_config.h"
#include "tunnel_policy.h"

static struct tp_policy *policy(const char *json)
{
    char err[256];
    struct tp_policy *p = tc_policy_parse(json, NULL, err, sizeof(err));
    if (!p)
        fail_msg("policy %s: %s", json, err);
    return p;
}

static struct tp_addr addr(const char *s)
{
    struct tp_addr a;
    if (tp_addr_parse(s, &a) != 0)
        fail_msg("not an address: %s", s);
    return a;
}

/* Full check of a numeric host as a client would send it. */
static int check_num(const struct tp_policy *p, const char *host, int port)
{
    struct tp_addr a;
    int v = tp_open_precheck(p, host, port);
    if (v != TP_PERMIT)
        return v;
    if (tp_classify_host(host, &a) != TP_HOST_NUMERIC)
        fail_msg("expected numeric: %s", host);
    return tp_open_check(p, NULL, &a, port, NULL, 0);
}

/* A name that resolved to `resolved`. */
static int check_name(const struct tp_policy *p, const char *name, const char *resolved, int port)
{
    struct tp_addr a = addr(resolved);
    int v = tp_open_precheck(p, name, port);
    if (v != TP_PERMIT)
        return v;
    return tp_open_check(p, name, &a, port, NULL, 0);
}

/* ---------------------------------------------------------------- addresses */

static void test_classify_canonical(void **state)
{
    (void)state;
    struct tp_addr a;
    assert_int_equal(tp_classify_host("127.0.0.1", &a), TP_HOST_NUMERIC);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(tp_classify_host("::1", &a), TP_HOST_NUMERIC);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(tp_classify_host("[::1]", &a), TP_HOST_NUMERIC);
    assert_int_equal(tp_classify_host("example.com", NULL), TP_HOST_NAME);
    assert_int_equal(tp_classify_host("localhost", NULL), TP_HOST_NAME);
    assert_int_equal(tp_classify_host("a-b_c.d9", NULL), TP_HOST_NAME);
    assert_int_equal(tp_classify_host("1password.com", NULL), TP_HOST_NAME);
}

static void test_classify_non_canonical(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "0177.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "127.0.0.01",
        "1.2.3.4.5", "01.2.3.4", "127.0.1", "fe80::1%eth0", "1::2::3", "", "-a.com",
        "a-.com", "a..com", "a.com.", "a b", "a/b", "[127.0.0.1]", "foo.123", "0",
        "host:22",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tp_classify_host(bad[i], NULL) != TP_HOST_BAD)
            fail_msg("'%s' should be refused", bad[i]);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(tp_classify_host(longname, NULL), TP_HOST_BAD);
}

static void test_mapped_v6_normalised(void **state)
{
    (void)state;
    struct tp_addr a = addr("::ffff:127.0.0.1"), b = addr("127.0.0.1");
    assert_int_equal(a.family, AF_INET);
    assert_true(tp_addr_equal(&a, &b));
    assert_true(tp_addr_is_loopback(&a));
    a = addr("::ffff:7f00:1");
    assert_true(tp_addr_equal(&a, &b));
    struct tp_cidr c;
    assert_int_equal(tp_cidr_parse("::ffff:10.0.0.0/104", &c, NULL, 0), 0);
    assert_int_equal(c.net.family, AF_INET);
    assert_int_equal(c.prefix, 8);
}

static void test_cidr(void **state)
{
    (void)state;
    struct tp_cidr c;
    char err[128];
    struct tp_addr in = addr("10.200.3.4"), out = addr("11.0.0.1"), v6 = addr("fd00::5");
    assert_int_equal(tp_cidr_parse("10.0.0.0/8", &c, err, sizeof(err)), 0);
    assert_true(tp_cidr_contains(&c, &in));
    assert_false(tp_cidr_contains(&c, &out));
    assert_false(tp_cidr_contains(&c, &v6));
    assert_int_equal(tp_cidr_parse("[fd00::/8]", &c, err, sizeof(err)), 0);
    assert_true(tp_cidr_contains(&c, &v6));
    assert_int_equal(tp_cidr_parse("[fd00::]/8", &c, err, sizeof(err)), 0);
    assert_true(tp_cidr_contains(&c, &v6));
    assert_int_equal(tp_cidr_parse("192.168.1.7", &c, err, sizeof(err)), 0);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(tp_cidr_parse("0.0.0.0/0", &c, err, sizeof(err)), 0);
    assert_true(tp_cidr_contains(&c, &out));
    assert_int_equal(tp_cidr_parse("10.0.0.1/8", &c, err, sizeof(err)), -1); /* host bits */
    assert_int_equal(tp_cidr_parse("10.0.0.0/33", &c, err, sizeof(err)), -1);
    assert_int_equal(tp_cidr_parse("010.0.0.0/8", &c, err, sizeof(err)), -1);
    assert_int_equal(tp_cidr_parse("10.0.0.0/", &c, err, sizeof(err)), -1);
    assert_int_equal(tp_cidr_parse("10.0.0.0/-1", &c, err, sizeof(err)), -1);
    assert_int_equal(tp_cidr_parse("fe80::/129", &c, err, sizeof(err)), -1);
    assert_int_equal(tp_cidr_parse("junk", &c, err, sizeof(err)), -1);
}

/* ---------------------------------------------------------------- patterns */

static void test_open_patterns_parse(void **state)
{
    (void)state;
    struct tp_pattern p;
    char err[200];
    assert_int_equal(tp_open_pattern_parse("127.0.0.1:*", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_CIDR);
    assert_true(p.loopback_explicit);
    assert_int_equal(p.port_lo, 1);
    assert_int_equal(p.port_hi, 65535);
    assert_int_equal(tp_open_pattern_parse("[::1]:8000-9000", &p, err, sizeof(err)), 0);
    assert_true(p.loopback_explicit);
    assert_int_equal(p.port_lo, 8000);
    assert_int_equal(p.port_hi, 9000);
    assert_int_equal(tp_open_pattern_parse("*.Example.COM:443", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_NAME);
    assert_string_equal(p.name, "*.example.com");
    assert_false(p.loopback_explicit);
    assert_int_equal(tp_open_pattern_parse("10.0.0.0/8:*", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_CIDR);
    assert_false(p.loopback_explicit);
    assert_int_equal(tp_open_pattern_parse("127.0.0.0/8:22", &p, err, sizeof(err)), 0);
    assert_true(p.loopback_explicit);
    assert_int_equal(tp_open_pattern_parse("localhost:*", &p, err, sizeof(err)), 0);
    assert_true(p.loopback_explicit);
    assert_int_equal(tp_open_pattern_parse("*:*", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_ANY);
    assert_false(p.loopback_explicit);

    static const char *const bad[] = {
        "127.0.0.1", "::1:22", "0177.0.0.1:*", "127.1:*", "10.*:*", "host:0", "host:70000",
        "host:9-8", "host:", ":22", "[::1]22", "[127.0.0.1]:22", "a b:22", "10.0.0.1/8:*",
        "host:-1", "host:1-", "h*st:x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tp_open_pattern_parse(bad[i], &p, err, sizeof(err)) == 0)
            fail_msg("open pattern '%s' should be refused", bad[i]);
}

static void test_open_patterns_match(void **state)
{
    (void)state;
    struct tp_policy *p = policy("{\"permit_open\":[\"127.0.0.1:*\",\"[::1]:8000-9000\","
                                 "\"*.example.com:443\",\"10.0.0.0/8:*\"]}");
    assert_int_equal(check_num(p, "127.0.0.1", 22), TP_PERMIT);
    assert_int_equal(check_num(p, "127.0.0.2", 22), TP_DENY_NO_MATCH);
    assert_int_equal(check_num(p, "::1", 8500), TP_PERMIT);
    assert_int_equal(check_num(p, "::1", 9001), TP_DENY_NO_MATCH);
    assert_int_equal(check_num(p, "10.9.8.7", 5432), TP_PERMIT);
    assert_int_equal(check_num(p, "11.0.0.1", 5432), TP_DENY_NO_MATCH);
    assert_int_equal(check_name(p, "www.example.com", "93.184.216.34", 443), TP_PERMIT);
    assert_int_equal(check_name(p, "WWW.Example.Com", "93.184.216.34", 443), TP_PERMIT);
    assert_int_equal(check_name(p, "www.example.com", "93.184.216.34", 80), TP_DENY_NO_MATCH);
    assert_int_equal(check_name(p, "example.com", "93.184.216.34", 443), TP_DENY_NO_MATCH);
    /* CIDR patterns may match what a name resolves to: resolution is needed */
    assert_int_equal(tp_open_precheck(p, "evil.org", 443), TP_PERMIT);
    assert_int_equal(check_name(p, "evil.org", "8.8.8.8", 443), TP_DENY_NO_MATCH);
    /* a name resolving into a permitted CIDR is permitted (CIDR on the address) */
    assert_int_equal(check_name(p, "db.internal", "10.1.1.1", 5432), TP_PERMIT);
    /* mapped form of a permitted address */
    assert_int_equal(check_num(p, "::ffff:127.0.0.1", 22), TP_PERMIT);
    /* a permitted name resolving to loopback: allowed only because 127.0.0.1:* is */
    assert_int_equal(check_name(p, "www.example.com", "127.0.0.1", 443), TP_PERMIT);
    assert_int_equal(check_name(p, "www.example.com", "127.0.0.2", 443), TP_DENY_LOOPBACK);
    assert_int_equal(check_name(p, "www.example.com", "::1", 443), TP_DENY_LOOPBACK);
    tc_policy_free(p);
}

/* ---------------------------------------------------------------- address rules */

static void test_name_precheck(void **state)
{
    (void)state;
    /* only name patterns: a name no pattern can match is refused unresolved */
    struct tp_policy *p = policy("{\"permit_open\":[\"*.example.com:443\",\"localhost:22\"]}");
    assert_int_equal(tp_open_precheck(p, "evil.org", 443), TP_DENY_NO_MATCH);
    assert_int_equal(tp_open_precheck(p, "a.example.com", 443), TP_PERMIT);
    assert_int_equal(tp_open_precheck(p, "a.example.com", 444), TP_DENY_NO_MATCH);
    assert_int_equal(tp_open_precheck(p, "localhost", 22), TP_PERMIT);
    assert_int_equal(tp_open_precheck(p, "0177.0.0.1", 22), TP_DENY_BAD_HOST);
    assert_int_equal(tp_open_precheck(p, "localhost", 0), TP_DENY_BAD_PORT);
    assert_int_equal(tp_open_precheck(p, "localhost", 65536), TP_DENY_BAD_PORT);
    tc_policy_free(p);
}

static void test_loopback_needs_explicit(void **state)
{
    (void)state;
    struct tp_policy *p = policy("{\"permit_open\":[\"*:*\",\"0.0.0.0/0:*\",\"[::/0]:*\"]}");
    assert_int_equal(check_num(p, "8.8.8.8", 53), TP_PERMIT);
    assert_int_equal(check_num(p, "127.0.0.1", 80), TP_DENY_LOOPBACK);
    assert_int_equal(check_num(p, "127.9.9.9", 80), TP_DENY_LOOPBACK);
    assert_int_equal(check_num(p, "::1", 80), TP_DENY_LOOPBACK);
    assert_int_equal(check_num(p, "::ffff:127.0.0.1", 80), TP_DENY_LOOPBACK);
    assert_int_equal(check_num(p, "0177.0.0.1", 80), TP_DENY_BAD_HOST);
    assert_int_equal(check_num(p, "2130706433", 80), TP_DENY_BAD_HOST);
    assert_int_equal(check_num(p, "127.1", 80), TP_DENY_BAD_HOST);
    assert_int_equal(check_name(p, "localhost", "127.0.0.1", 80), TP_DENY_LOOPBACK);
    assert_int_equal(check_name(p, "localhost", "::1", 80), TP_DENY_LOOPBACK);
    tc_policy_free(p);

    p = policy("{\"permit_open\":[\"localhost:*\"]}");
    assert_int_equal(check_name(p, "localhost", "127.0.0.1", 80), TP_PERMIT);
    assert_int_equal(check_name(p, "localhost", "::1", 80), TP_PERMIT);
    assert_int_equal(check_num(p, "127.0.0.1", 80), TP_PERMIT);
    assert_int_equal(check_num(p, "::1", 80), TP_PERMIT);
    assert_int_equal(check_num(p, "127.0.0.2", 80), TP_DENY_NO_MATCH);
    assert_int_equal(check_name(p, "other", "127.0.0.1", 80), TP_DENY_NO_MATCH);
    tc_policy_free(p);

    p = policy("{\"permit_open\":[\"127.0.0.0/8:*\"]}");
    assert_int_equal(check_num(p, "127.0.0.2", 80), TP_PERMIT);
    tc_policy_free(p);
}

static void test_link_local_and_unspecified(void **state)
{
    (void)state;
    struct tp_policy *p = policy("{\"permit_open\":[\"*:*\",\"169.254.0.0/16:*\"]}");
    assert_int_equal(check_num(p, "169.254.169.254", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "::ffff:169.254.169.254", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "fe80::1", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "0.0.0.0", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "::", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "224.0.0.1", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "::127.0.0.1", 80), TP_DENY_CIDR); /* v4-compatible */
    assert_int_equal(check_name(p, "metadata.example", "169.254.169.254", 80), TP_DENY_CIDR);
    tc_policy_free(p);

    /* an explicit deny_cidrs replaces the defaults */
    p = policy("{\"permit_open\":[\"*:*\"],\"deny_cidrs\":[\"10.0.0.0/8\"]}");
    assert_int_equal(check_num(p, "10.1.2.3", 80), TP_DENY_CIDR);
    assert_int_equal(check_num(p, "169.254.169.254", 80), TP_PERMIT);
    tc_policy_free(p);
}

static void test_allow_cidrs(void **state)
{
    (void)state;
    struct tp_policy *p =
        policy("{\"permit_open\":[\"*:*\"],\"allow_cidrs\":[\"192.168.0.0/16\",\"[2001:db8::/32]\"]}");
    assert_int_equal(check_num(p, "192.168.5.5", 80), TP_PERMIT);
    assert_int_equal(check_num(p, "2001:db8::1", 80), TP_PERMIT);
    assert_int_equal(check_num(p, "8.8.8.8", 80), TP_DENY_NOT_ALLOWED);
    assert_int_equal(check_name(p, "intranet", "192.168.1.1", 80), TP_PERMIT);
    assert_int_equal(check_name(p, "rebind.example", "8.8.8.8", 80), TP_DENY_NOT_ALLOWED);
    tc_policy_free(p);
}

static void test_self_ports(void **state)
{
    (void)state;
    struct tp_policy *p = policy("{\"permit_open\":[\"127.0.0.1:*\",\"[::1]:*\",\"10.0.0.5:*\"]}");
    struct tp_endpoint self[2] = {{addr("127.0.0.1"), 2222}, {addr("10.0.0.5"), 22}};
    struct tp_addr lo = addr("127.0.0.1"), lo6 = addr("::1"), lan = addr("10.0.0.5");
    assert_int_equal(tp_open_check(p, NULL, &lo, 2222, self, 2), TP_DENY_SELF);
    assert_int_equal(tp_open_check(p, NULL, &lo6, 2222, self, 2), TP_DENY_SELF);
    assert_int_equal(tp_open_check(p, NULL, &lo, 22, self, 2), TP_DENY_SELF);
    assert_int_equal(tp_open_check(p, NULL, &lan, 22, self, 2), TP_DENY_SELF);
    assert_int_equal(tp_open_check(p, NULL, &lan, 2222, self, 2), TP_PERMIT);
    assert_int_equal(tp_open_check(p, NULL, &lo, 2223, self, 2), TP_PERMIT);
    tc_policy_free(p);
    p = policy("{\"permit_open\":[\"127.0.0.1:*\"],\"allow_self\":true}");
    assert_int_equal(tp_open_check(p, NULL, &lo, 2222, self, 2), TP_PERMIT);
    tc_policy_free(p);
}

static void test_deny_by_default(void **state)
{
    (void)state;
    struct tp_policy *p = policy("{}");
    struct tp_listen_plan plan;
    assert_int_equal(check_num(p, "8.8.8.8", 53), TP_DENY_NO_MATCH);
    assert_int_equal(check_num(p, "127.0.0.1", 80), TP_DENY_NO_MATCH);
    assert_int_equal(tp_listen_check(p, "127.0.0.1", 8080, &plan), TP_DENY_NO_MATCH);
    assert_int_equal(p->max_forwards, 32);
    assert_int_equal(p->max_listeners, 8);
    assert_int_equal(p->connect_timeout_ms, 10000);
    assert_int_equal(p->idle_timeout_s, 0);
    tc_policy_free(p);
}

/* ---------------------------------------------------------------- listen */

static void test_listen(void **state)
{
    (void)state;
    struct tp_listen_plan plan;
    struct tp_policy *p = policy("{\"permit_listen\":[\"127.0.0.1:1024-65535\",\"localhost:*\"]}");
    struct tp_addr lo = addr("127.0.0.1");
    assert_int_equal(tp_listen_check(p, "127.0.0.1", 8080, &plan), TP_PERMIT);
    assert_int_equal(plan.n, 1);
    assert_int_equal(tp_listen_check(p, "localhost", 8080, &plan), TP_PERMIT);
    assert_int_equal(plan.n, 2);
    assert_int_equal(tp_listen_check(p, "::1", 8080, &plan), TP_PERMIT);
    assert_int_equal(tp_listen_check(p, "::ffff:127.0.0.1", 8080, &plan), TP_PERMIT);
    assert_int_equal(plan.addrs[0].family, AF_INET);
    assert_int_equal(tp_listen_check(p, "localhost", 0, &plan), TP_PERMIT);
    assert_int_equal(tp_listen_check(p, "127.0.0.1", 80, &plan), TP_DENY_PRIVILEGED);
    assert_int_equal(tp_listen_check(p, "localhost", 1023, &plan), TP_DENY_PRIVILEGED);
    assert_int_equal(tp_listen_check(p, "", 8080, &plan), TP_DENY_WILDCARD);
    assert_int_equal(tp_listen_check(p, "*", 8080, &plan), TP_DENY_WILDCARD);
    assert_int_equal(tp_listen_check(p, "0.0.0.0", 8080, &plan), TP_DENY_WILDCARD);
    assert_int_equal(tp_listen_check(p, "::", 8080, &plan), TP_DENY_WILDCARD);
    assert_int_equal(tp_listen_check(p, "10.0.0.1", 8080, &plan), TP_DENY_NO_MATCH);
    assert_int_equal(tp_listen_check(p, "0177.0.0.1", 8080, &plan), TP_DENY_BAD_HOST);
    assert_int_equal(tp_listen_check(p, "example.com", 8080, &plan), TP_DENY_BAD_HOST);
    assert_int_equal(tp_listen_check(p, "127.0.0.1", 70000, &plan), TP_DENY_BAD_PORT);
    assert_true(tp_listen_port_ok(p, &lo, 40000));
    assert_false(tp_listen_port_ok(p, &lo, 1000));
    tc_policy_free(p);

    /* explicitly listed privileged port and wildcard */
    p = policy("{\"permit_listen\":[\"127.0.0.1:80\",\"*:8000-8100\",\"[::]:9000\"]}");
    assert_int_equal(tp_listen_check(p, "127.0.0.1", 80, &plan), TP_PERMIT);
    assert_int_equal(tp_listen_check(p, "127.0.0.1", 81, &plan), TP_DENY_PRIVILEGED);
    assert_int_equal(tp_listen_check(p, "", 8050, &plan), TP_PERMIT);
    assert_int_equal(plan.n, 2);
    assert_int_equal(tp_listen_check(p, "0.0.0.0", 8050, &plan), TP_PERMIT);
    assert_int_equal(tp_listen_check(p, "::", 9000, &plan), TP_PERMIT);
    assert_int_equal(tp_listen_check(p, "0.0.0.0", 9000, &plan), TP_DENY_NO_MATCH);
    tc_policy_free(p);

    /* only 127.0.0.1 listed: "localhost" binds just that */
    p = policy("{\"permit_listen\":[\"127.0.0.1:*\"]}");
    assert_int_equal(tp_listen_check(p, "localhost", 5000, &plan), TP_PERMIT);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.addrs[0].family, AF_INET);
    tc_policy_free(p);
}

static void test_listen_patterns_parse(void **state)
{
    (void)state;
    struct tp_pattern p;
    char err[200];
    assert_int_equal(tp_listen_pattern_parse("localhost:1024-65535", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_LOCALHOST);
    assert_int_equal(tp_listen_pattern_parse("*:*", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_WILDCARD);
    assert_int_equal(p.port_lo, 1024); /* "*" does not include privileged ports */
    assert_int_equal(tp_listen_pattern_parse(":8080", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_WILDCARD);
    assert_int_equal(tp_listen_pattern_parse("[::1]:2000", &p, err, sizeof(err)), 0);
    assert_int_equal(p.kind, TP_PAT_CIDR);
    assert_int_equal(tp_listen_pattern_parse("example.com:80", &p, err, sizeof(err)), -1);
    assert_int_equal(tp_listen_pattern_parse("0177.0.0.1:80", &p, err, sizeof(err)), -1);
    assert_int_equal(tp_listen_pattern_parse("127.0.0.1:0", &p, err, sizeof(err)), -1);
}

/* ---------------------------------------------------------------- config */

static void test_config_errors(void **state)
{
    (void)state;
    char err[256];
    static const char *const bad[] = {
        "[]", "{", "{\"permit_opn\":[]}", "{\"permit_open\":\"*:*\"}",
        "{\"permit_open\":[1]}", "{\"permit_open\":[\"0177.0.0.1:*\"]}",
        "{\"max_forwards\":-1}", "{\"max_forwards\":\"3\"}", "{\"allow_self\":1}",
        "{\"connect_timeout_ms\":0}", "{\"deny_cidrs\":[\"10.0.0.1/8\"]}",
        "{\"max_buffer\":1}", "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tp_policy *p = tc_policy_parse(bad[i], NULL, err, sizeof(err));
        if (p)
            fail_msg("config %s should be refused", bad[i]);
        assert_true(err[0] != '\0');
    }
    struct tp_policy *p = tc_policy_parse("{\"permit_opn\":[]}", NULL, err, sizeof(err));
    assert_null(p);
    assert_non_null(strstr(err, "permit_opn"));
}

static void test_config_override(void **state)
{
    (void)state;
    char err[256];
    struct tp_policy *base =
        tc_policy_parse("{\"permit_open\":[\"10.0.0.0/8:*\"],\"max_forwards\":5,"
                        "\"idle_timeout\":60}",
                        NULL, err, sizeof(err));
    assert_non_null(base);
    struct tp_policy *route =
        tc_policy_parse("{\"permit_open\":[\"127.0.0.1:*\"]}", base, err, sizeof(err));
    assert_non_null(route);
    assert_int_equal(route->max_forwards, 5);
    assert_int_equal(route->idle_timeout_s, 60);
    assert_int_equal(check_num(route, "127.0.0.1", 80), TP_PERMIT);
    assert_int_equal(check_num(route, "10.0.0.1", 80), TP_DENY_NO_MATCH);
    struct tp_policy *same = tc_policy_parse("{}", base, err, sizeof(err));
    assert_non_null(same);
    assert_int_equal(check_num(same, "10.0.0.1", 80), TP_PERMIT);
    assert_int_equal(same->n_deny, base->n_deny);
    tc_policy_free(same);
    tc_policy_free(route);
    tc_policy_free(base);
}

static void test_printable(void **state)
{
    (void)state;
    char out[8];
    assert_string_equal(tp_printable("a\nb\x1b[c", out, sizeof(out)), "a?b?[c");
    assert_string_equal(tp_printable("0123456789", out, sizeof(out)), "0123456");
    assert_string_equal(tp_printable(NULL, out, sizeof(out)), "");
    assert_string_equal(tp_printable("\xc3\xa9 x", out, sizeof(out)), "???x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_canonical),
        cmocka_unit_test(test_classify_non_canonical),
        cmocka_unit_test(test_mapped_v6_normalised),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_open_patterns_parse),
        cmocka_unit_test(test_open_patterns_match),
        cmocka_unit_test(test_name_precheck),
        cmocka_unit_test(test_loopback_needs_explicit),
        cmocka_unit_test(test_link_local_and_unspecified),
        cmocka_unit_test(test_allow_cidrs),
        cmocka_unit_test(test_self_ports),
        cmocka_unit_test(test_deny_by_default),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_listen_patterns_parse),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_override),
        cmocka_unit_test(test_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
