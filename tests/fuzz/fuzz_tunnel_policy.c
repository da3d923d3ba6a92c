/* fuzz_tunnel_policy.c — libFuzzer target for the tunnel policy parsers and
 * checks (plugins/tunnel/tunnel_policy.c, tunnel_config.c).
 *
 * The input (NUL-terminated copy) is fed to every parser: open/listen
 * patterns, CIDRs, request hosts, listen addresses, and the JSON config.
 * Invariants checked (abort on violation):
 *   - a parsed pattern has 1 <= port_lo <= port_hi;
 *   - a numeric host formats back to text that parses to the same address;
 *   - a host classified TP_HOST_BAD is never permitted;
 *   - under a policy without explicit loopback patterns no loopback address
 *     is ever permitted, and link-local never is.
 * ctest runs it over the seed corpus plus mutations (tests/fuzz/CMakeLists.txt). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel_config.h"
#include "tunnel_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tp_policy *fixed_policy(void)
{
    static struct tp_policy *p;
    if (!p) {
        char err[256];
        p = tc_policy_parse("{\"permit_open\":[\"*:*\",\"*.example.com:443\","
                            "\"10.0.0.0/8:1-1024\",\"[fd00::/8]:*\"],"
                            "\"permit_listen\":[\"localhost:2000-3000\",\"[::1]:*\"]}",
                            NULL, err, sizeof(err));
        if (!p)
            abort();
    }
    return p;
}

static void check_host(const struct tp_policy *p, const char *host, int port, bool loopback_ok,
                       bool linklocal_denied)
{
    struct tp_endpoint self = {.port = 2222};
    struct tp_addr a;
    int cls = tp_classify_host(host, &a);
    int pre = tp_open_precheck(p, host, port);

    tp_addr_parse("127.0.0.1", &self.addr);
    if (cls == TP_HOST_BAD && pre == TP_PERMIT)
        abort();
    if (cls == TP_HOST_NUMERIC) {
        char buf[64];
        struct tp_addr b;
        tp_addr_format(&a, buf, sizeof(buf));
        if (tp_addr_parse(buf, &b) != 0 || !tp_addr_equal(&a, &b))
            abort();
        int v = tp_open_check(p, NULL, &a, port, &self, 1);
        if (v == TP_PERMIT && !loopback_ok && tp_addr_is_loopback(&a))
            abort();
        struct tp_cidr ll;
        tp_cidr_parse("169.254.0.0/16", &ll, NULL, 0);
        if (v == TP_PERMIT && linklocal_denied && tp_cidr_contains(&ll, &a))
            abort();
    } else if (cls == TP_HOST_NAME) {
        struct tp_addr lo;
        tp_addr_parse("127.0.0.1", &lo);
        int v = tp_open_check(p, host, &lo, port, &self, 1);
        if (v == TP_PERMIT && !loopback_ok)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[1024];
    char err[256];
    struct tp_pattern pat;
    struct tp_cidr c;
    struct tp_listen_plan plan;
    struct tp_policy *p;
    int port;

    if (size >= sizeof(s))
        size = sizeof(s) - 1;
    memcpy(s, data, size);
    s[size] = '\0';
    port = size ? (data[0] * 257 + (size > 1 ? data[1] : 0)) % 65537 : 0;

    if (tp_open_pattern_parse(s, &pat, err, sizeof(err)) == 0 &&
        (pat.port_lo < 1 || pat.port_lo > pat.port_hi))
        abort();
    if (tp_listen_pattern_parse(s, &pat, err, sizeof(err)) == 0 &&
        (pat.port_lo < 1 || pat.port_lo > pat.port_hi))
        abort();
    if (tp_cidr_parse(s, &c, err, sizeof(err)) == 0 &&
        (c.prefix < 0 || c.prefix > (c.net.family == AF_INET ? 32 : 128)))
        abort();

    check_host(fixed_policy(), s, port, false, true);
    check_host(fixed_policy(), s, 443, false, true);
    if (tp_listen_check(fixed_policy(), s, port, &plan) == TP_PERMIT && plan.n == 0)
        abort();

    p = tc_policy_parse(s, NULL, err, sizeof(err));
    if (p) {
        bool loop_explicit = false;
        for (size_t i = 0; i < p->n_open; i++)
            loop_explicit |= p->open[i].loopback_explicit;
        check_host(p, "127.0.0.1", 80, loop_explicit, false);
        check_host(p, "::ffff:127.0.0.1", 80, loop_explicit, false);
        check_host(p, "169.254.169.254", 80, true, false);
        check_host(p, "localhost", 22, loop_explicit, false);
        (void)tp_listen_check(p, "localhost", 0, &plan);
        (void)tp_listen_check(p, "", 80, &plan);
        tc_policy_free(p);
    }
    return 0;
}
