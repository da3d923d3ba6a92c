/* Unit tests of core pieces that need no network: router, plugin loader,
 * auth method sets (MFA), log masking, loop timers and work pool, request
 * handles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libssh/libssh.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "plugin_loader.h"
#include "request.h"
#include "restrict.h"
#include "router.h"
#include "session.h"

static struct sg_config *load(const char *text)
{
    char err[512];
    struct sg_config *c = sg_config_load_string(text, "test", err, sizeof(err));
    if (!c)
        fail_msg("config: %s", err);
    return c;
}

/* ---- router --------------------------------------------------------------------- */
static bool groups_admins(void *ctx, const char *g) { return strcmp(g, "admins") == 0; }
static bool groups_none(void *ctx, const char *g) { return false; }

static const char *ROUTES =
    "{\"plugins\":[{\"name\":\"a\",\"path\":\"/x/a.so\"},{\"name\":\"b\",\"path\":\"/x/b.so\"}],"
    "\"auth\":{\"chain\":[]},"
    "\"routes\":["
    "{\"match\":{\"kind\":\"exec\",\"command\":\"git-* *\",\"user\":[\"al*\"]},\"plugin\":\"a\"},"
    "{\"match\":{\"kind\":\"shell\",\"group\":\"admins\"},\"plugin\":\"a\"},"
    "{\"match\":{\"kind\":\"subsystem\",\"subsystem\":\"sftp\",\"source\":\"10.0.0.0/8\"},\"plugin\":\"b\"},"
    "{\"match\":{\"kind\":\"direct-tcpip\"},\"plugin\":\"b\"}]}";

static void test_router(void **st)
{
    struct sg_config *cfg = load(ROUTES);
    struct sockaddr_in lo = {.sin_family = AF_INET}, ten = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
    inet_pton(AF_INET, "10.1.2.3", &ten.sin_addr);
    struct sg_route_query q = {.kind = SG_ROUTE_EXEC, .command = "git-upload-pack 'r.git'",
                               .user = "alice", .has_group = groups_none,
                               .source = (struct sockaddr *)&lo};
    assert_int_equal(sg_route_match(cfg, &q), 0);
    q.user = "bob"; /* user glob */
    assert_int_equal(sg_route_match(cfg, &q), -1);
    q.user = "alice";
    q.command = "rm -rf /"; /* command glob */
    assert_int_equal(sg_route_match(cfg, &q), -1);
    q = (struct sg_route_query){.kind = SG_ROUTE_SHELL, .user = "x", .has_group = groups_none,
                                .source = (struct sockaddr *)&lo};
    assert_int_equal(sg_route_match(cfg, &q), -1); /* not in admins */
    q.has_group = groups_admins;
    assert_int_equal(sg_route_match(cfg, &q), 1);
    q = (struct sg_route_query){.kind = SG_ROUTE_SUBSYSTEM, .subsystem = "sftp", .user = "x",
                                .has_group = groups_none, .source = (struct sockaddr *)&lo};
    assert_int_equal(sg_route_match(cfg, &q), -1); /* source CIDR */
    q.source = (struct sockaddr *)&ten;
    assert_int_equal(sg_route_match(cfg, &q), 2);
    q.subsystem = "sftp2";
    assert_int_equal(sg_route_match(cfg, &q), -1);
    q = (struct sg_route_query){.kind = SG_ROUTE_TCPIP_FORWARD, .user = "x",
                                .has_group = groups_admins, .source = (struct sockaddr *)&lo};
    assert_int_equal(sg_route_match(cfg, &q), -1); /* deny by default */
    q.kind = SG_ROUTE_DIRECT_TCPIP;
    assert_int_equal(sg_route_match(cfg, &q), 3);
    sg_config_free(cfg);
}

/* ---- loader ---------------------------------------------------------------------- */
static void expect_refusal(const char *file, const char *needle)
{
    char path[512], err[512] = "";
    struct sg_plugin_ref r;
    snprintf(path, sizeof(path), "%s/%s", SG_FAKE_DIR, file);
    int rc = sg_plugin_open("fake", path, &r, err, sizeof(err));
    if (!needle) {
        assert_int_equal(rc, 0);
        struct sg_plugin_set set = {.v = malloc(sizeof(r)), .n = 1};
        assert_non_null(set.v);
        set.v[0] = r;
        sg_plugins_unload(&set); /* not initialized: only dlclose */
        return;
    }
    assert_int_equal(rc, -1);
    if (!strstr(err, needle))
        fail_msg("'%s' does not say '%s'", err, needle);
    assert_non_null(strstr(err, file)); /* names the file */
}

static void test_loader_refusals(void **st)
{
    expect_refusal("good.so", NULL);
    expect_refusal("bad_abi.so", "major differs");
    expect_refusal("no_entry.so", "does not export sg_plugin_entry");
    expect_refusal("null_entry.so", "refused ABI");
    expect_refusal("missing.so", "No such file");
    char path[512];
    snprintf(path, sizeof(path), "%s/good.so", SG_FAKE_DIR);
    chmod(path, 0777);
    expect_refusal("good.so", "writable by group or others");
    chmod(path, 0755);
}

static void test_loader_failing_init(void **st)
{
    char text[1024], err[512];
    snprintf(text, sizeof(text),
             "{\"plugins\":[{\"name\":\"ok\",\"path\":\"%s/good.so\"},"
             "{\"name\":\"bad\",\"path\":\"%s/failing_init.so\"}],\"auth\":{\"chain\":[]}}",
             SG_FAKE_DIR, SG_FAKE_DIR);
    struct sg_config *cfg = load(text);
    struct sg_plugin_set set;
    struct sg_host host = {.size = sizeof(host)};
    assert_int_equal(sg_plugins_load(cfg, &host, &set, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "init failed"));
    assert_non_null(strstr(err, "bad"));
    assert_null(set.v); /* everything loaded before was unloaded */
    /* without init (the master's check) both load */
    assert_int_equal(sg_plugins_load(cfg, NULL, &set, err, sizeof(err)), 0);
    assert_int_equal(set.n, 2);
    assert_non_null(sg_plugins_find(&set, "bad"));
    assert_null(sg_plugins_find(&set, "nope"));
    sg_plugins_unload(&set);
    sg_config_free(cfg);
}

/* ---- auth method sets --------------------------------------------------------------- */
static void test_auth_required_sets(void **st)
{
    struct sg_config *cfg = load("{\"auth\":{\"chain\":[],\"methods\":[\"publickey\",\"password\","
                                 "\"keyboard-interactive\"],\"required\":[[\"publickey\",\"password\"],"
                                 "[\"publickey\",\"keyboard-interactive\"]]}}");
    int pk = SSH_AUTH_METHOD_PUBLICKEY, pw = SSH_AUTH_METHOD_PASSWORD,
        kb = SSH_AUTH_METHOD_INTERACTIVE;
    assert_false(sg_auth_required_met(cfg, pk));
    assert_false(sg_auth_required_met(cfg, pw));
    assert_true(sg_auth_required_met(cfg, pk | pw));
    assert_true(sg_auth_required_met(cfg, pk | kb));
    assert_int_equal(sg_auth_next_methods(cfg, 0), pk | pw | kb);
    assert_int_equal(sg_auth_next_methods(cfg, pk), pw | kb);
    assert_int_equal(sg_auth_next_methods(cfg, pw), pk);
    assert_int_equal(sg_auth_methods_mask(cfg), pk | pw | kb);
    sg_config_free(cfg);
    cfg = load("{\"auth\":{\"chain\":[],\"methods\":[\"publickey\"]}}");
    assert_true(sg_auth_required_met(cfg, pk));
    assert_false(sg_auth_required_met(cfg, 0));
    assert_int_equal(sg_auth_next_methods(cfg, 0), pk);
    assert_int_equal(sg_auth_method_bit("keyboard-interactive"), kb);
    assert_int_equal(sg_auth_method_bit("hostbased"), 0);
    sg_config_free(cfg);
}

/* ---- log masking ---------------------------------------------------------------------- */
static void test_log_mask(void **st)
{
    char a[] = "bind with password=hunter2 and token: abc, ok";
    sg_log_mask(a);
    assert_string_equal(a, "bind with password=*** and token: ***, ok");
    char b[] = "{\"bind_password\":\"s3cr3t\",\"uri\":\"ldap://x\"}";
    sg_log_mask(b);
    assert_string_equal(b, "{\"bind_password\":\"***\",\"uri\":\"ldap://x\"}");
    char c[] = "no secrets here";
    sg_log_mask(c);
    assert_string_equal(c, "no secrets here");
}

/* ---- loop ---------------------------------------------------------------------------------- */
static int order[8], norder;
static sg_loop *L;
static void tcb(void *arg)
{
    order[norder++] = (int)(intptr_t)arg;
    if (norder == 3)
        sg_loop_stop(L);
}
static void work_fn(void *arg) { *(int *)arg = 42; }
static void done_fn(void *arg)
{
    order[norder++] = *(int *)arg;
    sg_loop_stop(L);
}

static void test_loop_timers_and_work(void **st)
{
    L = sg_loop_new(2);
    assert_non_null(L);
    norder = 0;
    sg_timer_add(L, 30, tcb, (void *)3);
    sg_ltimer *x = sg_timer_add(L, 10, tcb, (void *)99);
    sg_timer_add(L, 0, tcb, (void *)1);
    sg_timer_add(L, 20, tcb, (void *)2);
    sg_timer_cancel(L, x);
    assert_int_equal(sg_loop_timer_count(L), 3);
    sg_loop_run(L);
    assert_int_equal(norder, 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    int v = 0;
    norder = 0;
    assert_int_equal(sg_loop_queue_work(L, work_fn, done_fn, &v), 0);
    sg_loop_run(L);
    assert_int_equal(order[0], 42);
    sg_loop_free(L);
}

/* ---- request handles --------------------------------------------------------- */
static void test_request_handles(void **st)
{
    struct sg_conn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    struct sg_request *a = sg_request_new(c, SG_REQ_AUTH, NULL, NULL);
    struct sg_request *b = sg_request_new(c, SG_REQ_TUNNEL, NULL, NULL);
    assert_non_null(a);
    assert_non_null(b);
    sg_request *ha = sg_request_handle(a), *hb = sg_request_handle(b);
    assert_non_null(ha);
    assert_ptr_not_equal(ha, hb);
    assert_ptr_equal(sg_request_resolve(ha), a);
    assert_ptr_equal(sg_request_resolve(hb), b);
    /* freed: its handle resolves to nothing, also after the slot is reused */
    sg_request_free(a);
    assert_null(sg_request_resolve(ha));
    struct sg_request *a2 = sg_request_new(c, SG_REQ_AUTH, NULL, NULL);
    assert_non_null(a2);
    assert_ptr_not_equal(sg_request_handle(a2), ha);
    assert_null(sg_request_resolve(ha));
    assert_ptr_equal(sg_request_resolve(sg_request_handle(a2)), a2);
    /* stray values: NULL, an address, a slot never used */
    assert_null(sg_request_resolve(NULL));
    assert_null(sg_request_resolve((sg_request *)c));
    assert_null(sg_request_resolve((sg_request *)(uintptr_t)0x7fffff));
    /* a stale handle given to complete() is ignored (no crash, nothing freed) */
    sg_request_complete(ha, SG_OK, NULL);
    assert_ptr_equal(c->reqs, a2);
    /* the connection's end frees the rest */
    sg_requests_free_conn(c);
    assert_null(c->reqs);
    assert_null(sg_request_resolve(hb));
    free(c);
}

/* Credential restrictions (host->conn_restrict): parsing, accumulation, checks. */
static void test_restrictions(void **state)
{
    (void)state;
    struct sg_restrict r = {0};
    char why[160];
    /* nothing set: everything allowed */
    assert_true(sg_restrict_open_allowed(&r, "example.org", 22));
    assert_true(sg_restrict_listen_allowed(&r, "localhost", 0));

    const char *open1[] = {"db.internal:5432", "[::1]:*", "*:443", NULL};
    struct sg_restrictions in = {.size = sizeof in, .permit_open = open1};
    assert_int_equal(sg_restrict_add(&r, NULL, &in, why, sizeof why), SG_OK);
    assert_true(sg_restrict_open_allowed(&r, "db.internal", 5432));
    assert_false(sg_restrict_open_allowed(&r, "db.internal", 5433));
    assert_false(sg_restrict_open_allowed(&r, "DB.internal", 5432)); /* literal */
    assert_false(sg_restrict_open_allowed(&r, "10.0.0.5", 5432));    /* no lookup */
    assert_true(sg_restrict_open_allowed(&r, "::1", 9));
    assert_true(sg_restrict_open_allowed(&r, "anything", 443));
    assert_false(sg_restrict_open_allowed(&r, "0177.0.0.1", 22));
    assert_true(sg_restrict_listen_allowed(&r, "0.0.0.0", 80)); /* no listen list */

    /* a second list is one more condition */
    const char *open2[] = {"*:443", NULL};
    in.permit_open = open2;
    assert_int_equal(sg_restrict_add(&r, NULL, &in, why, sizeof why), SG_OK);
    assert_false(sg_restrict_open_allowed(&r, "db.internal", 5432));
    assert_true(sg_restrict_open_allowed(&r, "anything", 443));

    /* listen: host patterns (case-insensitive), no host = any, port 0 only by "*" */
    const char *listen1[] = {"localhost:8080", "127.0.0.?:*", "9000", NULL};
    struct sg_restrictions li = {.size = sizeof li, .permit_listen = listen1};
    assert_int_equal(sg_restrict_add(&r, NULL, &li, why, sizeof why), SG_OK);
    assert_true(sg_restrict_listen_allowed(&r, "LocalHost", 8080));
    assert_false(sg_restrict_listen_allowed(&r, "localhost", 8081));
    assert_false(sg_restrict_listen_allowed(&r, "localhost", 0));
    assert_true(sg_restrict_listen_allowed(&r, "127.0.0.1", 0));
    assert_true(sg_restrict_listen_allowed(&r, "0.0.0.0", 9000));
    assert_false(sg_restrict_listen_allowed(&r, "0.0.0.0", 9001));

    /* an empty list allows nothing */
    const char *none[] = {NULL};
    struct sg_restrict e = {0};
    struct sg_restrictions en = {.size = sizeof en, .permit_open = none};
    assert_int_equal(sg_restrict_add(&e, NULL, &en, why, sizeof why), SG_OK);
    assert_false(sg_restrict_open_allowed(&e, "anything", 443));

    /* the flag refuses all forwarding; merge moves everything */
    struct sg_restrictions fl = {.size = sizeof fl, .flags = SG_RESTRICT_PORT_FORWARDING};
    assert_int_equal(sg_restrict_add(&e, NULL, &fl, why, sizeof why), SG_OK);
    sg_restrict_merge(&r, &e);
    assert_null(e.open);
    assert_int_equal(e.flags, 0);
    assert_false(sg_restrict_open_allowed(&r, "anything", 443));
    assert_false(sg_restrict_listen_allowed(&r, "localhost", 8080));

    /* malformed input: refused, nothing added */
    struct sg_restrict m = {0};
    static const char *const bad[] = {"h",     "h:0",      "h:65536", ":22",   "::1:22",
                                      "[::1]", "[::1]22",  "h:2x",    "[]:22", NULL};
    for (size_t i = 0; bad[i]; i++) {
        const char *one[] = {"ok:1", bad[i], NULL};
        struct sg_restrictions b = {.size = sizeof b, .permit_open = one};
        assert_int_equal(sg_restrict_add(&m, NULL, &b, why, sizeof why), SG_E_INVAL);
        assert_non_null(strstr(why, "permit_open"));
    }
    const char *badl[] = {"x", NULL};
    struct sg_restrictions bl = {.size = sizeof bl, .permit_listen = badl};
    assert_int_equal(sg_restrict_add(&m, NULL, &bl, why, sizeof why), SG_E_INVAL);
    struct sg_restrictions bf = {.size = sizeof bf, .flags = 0x80};
    assert_int_equal(sg_restrict_add(&m, NULL, &bf, why, sizeof why), SG_E_INVAL);
    struct sg_restrictions small = {.size = 8};
    assert_int_equal(sg_restrict_add(&m, NULL, &small, why, sizeof why), SG_E_INVAL);
    assert_null(m.open);
    assert_null(m.listen);
    assert_int_equal(m.flags, 0);
    sg_restrict_clear(&r);
    sg_restrict_clear(&m);

    /* forced command: one per connection; the same again is fine */
    struct sg_restrict applied = {0}, staged = {0};
    struct sg_restrictions fc = {.size = sizeof fc, .force_command = "backup --run"};
    assert_int_equal(sg_restrict_add(&applied, NULL, &fc, why, sizeof why), SG_OK);
    assert_string_equal(applied.force_command, "backup --run");
    assert_int_equal(sg_restrict_add(&staged, &applied, &fc, why, sizeof why), SG_OK);
    fc.force_command = "other";
    assert_int_equal(sg_restrict_add(&staged, &applied, &fc, why, sizeof why), SG_E_INVAL);
    assert_non_null(strstr(why, "differs"));
    fc.force_command = "";
    assert_int_equal(sg_restrict_add(&staged, NULL, &fc, why, sizeof why), SG_E_INVAL);
    sg_restrict_merge(&applied, &staged);
    assert_string_equal(applied.force_command, "backup --run");
    assert_null(staged.force_command);
    /* a plugin built before force_command (smaller struct) sets none */
    struct sg_restrictions old = {.size = offsetof(struct sg_restrictions, force_command),
                                  .flags = SG_RESTRICT_PTY, .force_command = "ignored"};
    assert_int_equal(sg_restrict_add(&staged, NULL, &old, why, sizeof why), SG_OK);
    assert_null(staged.force_command);
    sg_restrict_clear(&applied);
    sg_restrict_clear(&staged);
}

int main(void)
{
    sg_log_setup(0, false, true, "test");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_loader_refusals),
        cmocka_unit_test(test_loader_failing_init),
        cmocka_unit_test(test_auth_required_sets),
        cmocka_unit_test(test_log_mask),
        cmocka_unit_test(test_loop_timers_and_work),
        cmocka_unit_test(test_request_handles),
        cmocka_unit_test(test_restrictions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
