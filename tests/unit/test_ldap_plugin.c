/* test_ldap_plugin.c — auth-ldap's event handling and SG_AGAIN plumbing
 * (plugins/auth-ldap/ldap_plugin.c) against a fake host table and a fake
 * directory (this file implements ldap_client.h instead of libldap).
 *
 * Checked: immediate denials (empty password, bad names), SG_AGAIN then
 * host->complete with the right result, groups/attributes applied only on
 * success and only on the loop side, unknown user → declined (or denied when
 * authoritative), fail closed on directory errors, the publickey cache (one
 * lookup for probe + signature), keyboard-interactive, a connection that ends
 * while its request runs, and fini while a request runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_client.h"
#include "plugin.h"

/* ---- fake directory (replaces ldap_client.c) ----------------------------- */

#define KEY_CAROL "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNhcm9sX2tleV9ibG9iX2Zvcl90ZXN0aW5nXzAx"
#define KEY_OTHER "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyX2tleV9ibG9iX2Zvcl90ZXN0aW5nXzAy"

struct sg_ldap_client {
    struct sg_ldap_conf *conf;
    int refs;
};

static int n_auth_calls, n_lookup_calls, n_clients_freed;
static char last_password[64];

struct sg_ldap_client *sg_ldap_client_new(struct sg_ldap_conf *conf)
{
    struct sg_ldap_client *cl = calloc(1, sizeof(*cl));
    cl->conf = conf;
    cl->refs = 1;
    return cl;
}
const struct sg_ldap_conf *sg_ldap_client_conf(const struct sg_ldap_client *cl)
{
    return cl->conf;
}
void sg_ldap_client_ref(struct sg_ldap_client *cl)
{
    cl->refs++;
}
void sg_ldap_client_unref(struct sg_ldap_client *cl)
{
    if (--cl->refs == 0) {
        sg_ldap_conf_free(cl->conf);
        free(cl);
        n_clients_freed++;
    }
}

static void add(char ***v, size_t *n, const char *s)
{
    *v = realloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = strdup(s);
    (*v)[*n] = NULL;
}

static void fill_user(const char *user, struct sg_ldap_result *r)
{
    char dn[300];
    snprintf(dn, sizeof(dn), "uid=%s,ou=people,dc=example,dc=org", user);
    r->user.dn = strdup(dn);
    add(&r->user.groups, &r->user.n_groups, "admins");
    add(&r->user.groups, &r->user.n_groups, "ops");
    add(&r->user.attr_names, &r->user.n_attrs, "mail");
    r->user.n_attrs--;
    add(&r->user.attr_values, &r->user.n_attrs, "x@example.org");
    if (strcmp(user, "carol") == 0)
        add(&r->user.keys, &r->user.n_keys, KEY_CAROL " carol@laptop");
    if (strcmp(user, "erin") == 0) { /* values with authorized_keys options */
        add(&r->user.keys, &r->user.n_keys, "from=\"10.0.0.0/8\" " KEY_CAROL " office");
        add(&r->user.keys, &r->user.n_keys, "tunnel=\"0\" " KEY_OTHER);
        add(&r->user.keys, &r->user.n_keys,
            "restrict,permitopen=\"db:5432\",command=\"backup\" " KEY_CAROL " anywhere");
    }
}

void sg_ldap_authenticate(struct sg_ldap_client *cl, const char *user, size_t ulen,
                          const char *password, size_t plen, struct sg_ldap_result *res)
{
    memset(res, 0, sizeof(*res));
    n_auth_calls++;
    snprintf(last_password, sizeof(last_password), "%.*s", (int)plen, password);
    assert_int_equal(strlen(user), ulen);
    assert_true(plen > 0);
    if (strcmp(user, "down") == 0) {
        res->status = SG_LDAP_ERROR;
        snprintf(res->why, sizeof(res->why), "ldap://x/: search: timed out");
    } else if (strcmp(user, "alice") && strcmp(user, "carol")) {
        res->status = SG_LDAP_NO_USER;
    } else if (strcmp(password, "pw") != 0) {
        res->status = SG_LDAP_BAD_PASSWORD;
    } else {
        res->status = SG_LDAP_OK;
        fill_user(user, res);
    }
}

void sg_ldap_lookup(struct sg_ldap_client *cl, const char *user, size_t ulen,
                    struct sg_ldap_result *res)
{
    memset(res, 0, sizeof(*res));
    n_lookup_calls++;
    if (strcmp(user, "down") == 0) {
        res->status = SG_LDAP_ERROR;
        snprintf(res->why, sizeof(res->why), "timed out");
    } else if (strcmp(user, "alice") && strcmp(user, "carol") && strcmp(user, "erin")) {
        res->status = SG_LDAP_NO_USER;
    } else {
        res->status = SG_LDAP_OK;
        fill_user(user, res);
    }
}

void sg_ldap_result_clear(struct sg_ldap_result *r)
{
    struct sg_ldap_user *u = &r->user;
    free(u->dn);
    for (size_t i = 0; i < u->n_keys; i++)
        free(u->keys[i]);
    for (size_t i = 0; i < u->n_groups; i++)
        free(u->groups[i]);
    for (size_t i = 0; i < u->n_attrs; i++) {
        free(u->attr_names[i]);
        free(u->attr_values[i]);
    }
    free(u->keys);
    free(u->groups);
    free(u->attr_names);
    free(u->attr_values);
    memset(r, 0, sizeof(*r));
}

/* ---- fake host ----------------------------------------------------------- */

static struct {
    void *ctx;
    char groups[8][64];
    int n_groups;
    char attrs[1024];
    char log[16384];
    int completes;
    int last_result;
    sg_work_fn work;
    sg_done_fn done;
    void *arg;
    uint64_t now;
    int restricts;           /* conn_restrict calls */
    unsigned restrict_flags; /* of the last one */
    char restrict_open[64], restrict_command[64];
    int restrict_answer;     /* what conn_restrict returns */
} H;

static sg_conn *const CONN = (sg_conn *)0x1;
static sg_request *const REQ = (sg_request *)0x2;

static void h_log(const sg_plugin_ref *self, sg_conn *conn, int level, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(H.log);
    va_start(ap, fmt);
    vsnprintf(H.log + n, sizeof(H.log) - n, fmt, ap);
    va_end(ap);
    n = strlen(H.log);
    if (n + 1 < sizeof(H.log))
        strcat(H.log, "\n");
}
static void *h_get_ctx(sg_conn *c, const sg_plugin_ref *self)
{
    assert_ptr_equal(c, CONN);
    return H.ctx;
}
static void h_set_ctx(sg_conn *c, const sg_plugin_ref *self, void *ctx)
{
    assert_ptr_equal(c, CONN);
    H.ctx = ctx;
}
static int h_add_group(sg_conn *c, const char *g)
{
    assert_ptr_equal(c, CONN);
    assert_true(H.n_groups < 8);
    snprintf(H.groups[H.n_groups++], 64, "%s", g);
    return 0;
}
static int h_set_attr(sg_conn *c, const char *n, const char *v)
{
    assert_ptr_equal(c, CONN);
    size_t l = strlen(H.attrs);
    snprintf(H.attrs + l, sizeof(H.attrs) - l, "%s=%s;", n, v);
    return 0;
}
static void h_complete(sg_request *r, int result, const struct sg_completion *extra)
{
    assert_ptr_equal(r, REQ);
    H.completes++;
    H.last_result = result;
}
static int h_queue_work(sg_work_fn work, sg_done_fn done, void *arg)
{
    assert_null(H.work); /* one at a time in these tests */
    H.work = work;
    H.done = done;
    H.arg = arg;
    return 0;
}
static uint64_t h_now(void)
{
    return H.now;
}

static int h_conn_info(sg_conn *c, struct sg_conn_info *out)
{
    assert_ptr_equal(c, CONN);
    memset(out, 0, out->size);
    out->size = sizeof(*out);
    out->peer_address = "127.0.0.1";
    out->peer_port = 40000;
    out->user = "";
    return 0;
}
static int h_conn_restrict(sg_conn *c, const struct sg_restrictions *r)
{
    assert_ptr_equal(c, CONN);
    H.restricts++;
    H.restrict_flags = r->flags;
    snprintf(H.restrict_open, sizeof(H.restrict_open), "%s",
             r->permit_open && r->permit_open[0] ? r->permit_open[0] : "");
    snprintf(H.restrict_command, sizeof(H.restrict_command), "%s",
             r->force_command ? r->force_command : "");
    return H.restrict_answer;
}

static const struct sg_host host = {
    .size = sizeof(struct sg_host),
    .abi_major = SG_PLUGIN_ABI_MAJOR,
    .abi_minor = SG_PLUGIN_ABI_MINOR,
    .log = h_log,
    .conn_get_ctx = h_get_ctx,
    .conn_set_ctx = h_set_ctx,
    .conn_add_group = h_add_group,
    .conn_set_attr = h_set_attr,
    .complete = h_complete,
    .queue_work = h_queue_work,
    .now_ms = h_now,
    .conn_info = h_conn_info,
    .conn_restrict = h_conn_restrict,
};

/* Run the queued job: work (the "pool thread"), then done (the "loop"). */
static void run_pool(void)
{
    assert_non_null(H.work);
    sg_work_fn w = H.work;
    sg_done_fn d = H.done;
    void *a = H.arg;
    H.work = NULL;
    w(a);
    d(a);
}

/* ---- helpers ------------------------------------------------------------- */

static const struct sg_plugin *P;
static void *S;

static int setup_conf(const char *json)
{
    memset(&H, 0, sizeof(H));
    H.now = 1000;
    n_auth_calls = n_lookup_calls = n_clients_freed = 0;
    P = sg_plugin_entry(SG_PLUGIN_ABI_MAJOR, SG_PLUGIN_ABI_MINOR);
    if (!P)
        return -1;
    return P->init(&host, (const sg_plugin_ref *)0x3, json, &S) == SG_OK ? 0 : -1;
}

static int setup(void **state)
{
    return setup_conf("{\"uris\":[\"ldap://127.0.0.1/\"],\"base_dn\":\"dc=example,dc=org\"}");
}

static int setup_authoritative(void **state)
{
    return setup_conf("{\"uris\":[\"ldap://127.0.0.1/\"],\"base_dn\":\"dc=x\","
                      "\"authoritative\":true}");
}

static int teardown(void **state)
{
    if (H.ctx) {
        struct sg_ev_disconnected ev = {.size = sizeof(ev)};
        P->on_disconnected(S, CONN, &ev);
    }
    assert_null(H.ctx);
    P->fini(S);
    assert_int_equal(n_clients_freed, 1);
    return 0;
}

static int auth(const char *user, const char *method, const char *param, size_t plen, bool probe,
                bool kbd_start)
{
    struct sg_ev_auth ev = {
        .size = sizeof(ev),
        .req = REQ,
        .user = user,
        .service = "ssh-connection",
        .method = method,
        .param = param,
        .param_len = plen,
        .key_algorithm = "",
        .key_fingerprint = "",
        .is_probe = probe,
        .kbdint_start = kbd_start,
    };
    return P->on_auth_request(S, CONN, &ev);
}

static int password(const char *user, const char *pw)
{
    return auth(user, "password", pw, strlen(pw), false, false);
}

/* ---- tests --------------------------------------------------------------- */

static void test_password_ok(void **state)
{
    assert_int_equal(password("alice", "pw"), SG_AGAIN);
    assert_int_equal(H.completes, 0);
    assert_int_equal(H.n_groups, 0); /* nothing before the decision */
    run_pool();
    assert_int_equal(H.completes, 1);
    assert_int_equal(H.last_result, SG_OK);
    assert_int_equal(H.n_groups, 2);
    assert_string_equal(H.groups[0], "admins");
    assert_string_equal(H.groups[1], "ops");
    assert_string_equal(H.attrs, "mail=x@example.org;");
    assert_string_equal(last_password, "pw");
}

static void test_password_results(void **state)
{
    assert_int_equal(password("alice", "wrong"), SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_DENY);
    assert_int_equal(H.n_groups, 0);
    assert_int_equal(password("nobody", "pw"), SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_DECLINED);
    assert_int_equal(password("down", "pw"), SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_DENY);
    assert_non_null(strstr(H.log, "fail closed"));
    assert_non_null(strstr(H.log, "timed out"));
    assert_int_equal(H.completes, 3);
}

static void test_authoritative(void **state)
{
    assert_int_equal(password("nobody", "pw"), SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_DENY);
}

static void test_immediate_denials(void **state)
{
    char big[300];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(password("alice", ""), SG_DENY);
    assert_non_null(strstr(H.log, "empty password"));
    assert_int_equal(password(big, "pw"), SG_DENY);
    assert_int_equal(password("", "pw"), SG_DENY);
    assert_int_equal(password("a\nb", "pw"), SG_DENY);
    assert_int_equal(auth("alice", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(auth(big, "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false), SG_DENY);
    assert_int_equal(n_auth_calls, 0);
    assert_null(H.work);
    assert_int_equal(auth("alice", "none", "", 0, false, false), SG_DECLINED);
    assert_int_equal(auth("alice", "sigstatus", "1", 1, false, false), SG_DECLINED);
}

static void test_publickey_cache(void **state)
{
    /* probe: one lookup, accepted, but no groups yet */
    assert_int_equal(auth("carol", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_OK);
    assert_int_equal(H.n_groups, 0);
    /* signature: from the cache, synchronous, groups applied */
    assert_int_equal(
        auth("carol", "publickey", KEY_CAROL " c", strlen(KEY_CAROL) + 2, false, false), SG_OK);
    assert_int_equal(n_lookup_calls, 1);
    assert_int_equal(H.n_groups, 2);
    /* another key: declined from the cache */
    assert_int_equal(auth("carol", "publickey", KEY_OTHER, strlen(KEY_OTHER), true, false),
                     SG_DECLINED);
    assert_int_equal(n_lookup_calls, 1);
    /* the cache expires */
    H.now += 60000;
    assert_int_equal(auth("carol", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(n_lookup_calls, 2);
    /* other user: not from carol's cache */
    assert_int_equal(auth("nobody", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_DECLINED);
    /* directory down: denied, not cached */
    assert_int_equal(auth("down", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_DENY);
    assert_int_equal(auth("down", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(n_lookup_calls, 5);
}

/* Key values with authorized_keys options: from= is checked against the
 * peer (127.0.0.1 here), an unsupported option skips the value, and the
 * restrictions of the value that matched go to the host at the signature
 * stage only. */
static void test_publickey_options(void **state)
{
    assert_int_equal(auth("erin", "publickey", KEY_CAROL, strlen(KEY_CAROL), true, false),
                     SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_OK);
    assert_int_equal(H.restricts, 0); /* a probe applies nothing */
    assert_non_null(strstr(H.log, "key value 0 of \"erin\" refused"));
    assert_int_equal(
        auth("erin", "publickey", KEY_CAROL, strlen(KEY_CAROL), false, false), SG_OK);
    assert_int_equal(H.restricts, 1);
    assert_int_equal(H.restrict_flags, SG_RESTRICT_PTY | SG_RESTRICT_PORT_FORWARDING);
    assert_string_equal(H.restrict_open, "db:5432");
    assert_string_equal(H.restrict_command, "backup");
    assert_int_equal(H.n_groups, 2);
    /* the value with tunnel= never matches */
    assert_int_equal(auth("erin", "publickey", KEY_OTHER, strlen(KEY_OTHER), true, false),
                     SG_DECLINED);
    assert_non_null(strstr(H.log, "key value 1 of \"erin\" skipped"));
    /* the host refuses the restrictions: the key is refused */
    H.restrict_answer = SG_E_INVAL;
    assert_int_equal(
        auth("erin", "publickey", KEY_CAROL, strlen(KEY_CAROL), false, false), SG_DENY);
    assert_non_null(strstr(H.log, "not accepted by the host"));
    assert_int_equal(n_lookup_calls, 1);
}

static void test_kbdint(void **state)
{
    assert_int_equal(auth("alice", "keyboard-interactive", "", 0, false, true), SG_DECLINED);
    assert_int_equal(auth("alice", "keyboard-interactive-1", "pw", 2, false, false), SG_OK);
    assert_int_equal(auth("alice", "keyboard-interactive", "", 0, false, false), SG_AGAIN);
    run_pool();
    assert_int_equal(H.last_result, SG_OK);
    assert_string_equal(last_password, "pw");
    /* empty answer: denied at once */
    assert_int_equal(auth("alice", "keyboard-interactive", "", 0, false, true), SG_DECLINED);
    assert_int_equal(auth("alice", "keyboard-interactive-1", "", 0, false, false), SG_OK);
    assert_int_equal(auth("alice", "keyboard-interactive", "", 0, false, false), SG_DENY);
    /* no answer remembered: not ours */
    assert_int_equal(auth("alice", "keyboard-interactive", "", 0, false, false), SG_DECLINED);
    assert_int_equal(n_auth_calls, 1);
}

static void test_disconnect_while_running(void **state)
{
    assert_int_equal(password("alice", "pw"), SG_AGAIN);
    struct sg_ev_disconnected ev = {.size = sizeof(ev)};
    P->on_disconnected(S, CONN, &ev);
    assert_null(H.ctx);
    run_pool(); /* completes (ignored by the host), touches no connection */
    assert_int_equal(H.completes, 1);
    assert_int_equal(H.n_groups, 0);
}

static void test_fini_while_running(void **state)
{
    assert_int_equal(password("alice", "pw"), SG_AGAIN);
    struct sg_ev_disconnected ev = {.size = sizeof(ev)};
    P->on_disconnected(S, CONN, &ev);
    P->fini(S);
    assert_int_equal(n_clients_freed, 0); /* the job holds a reference */
    H.work(H.arg);                        /* the pool thread finishes */
    assert_int_equal(n_clients_freed, 1);
    H.done(H.arg);
    H.work = NULL;
    assert_int_equal(H.completes, 1);
}

static void test_bad_config(void **state)
{
    void *st = NULL;
    const struct sg_plugin *p = sg_plugin_entry(SG_PLUGIN_ABI_MAJOR, 0);
    memset(&H, 0, sizeof(H));
    assert_int_equal(p->init(&host, NULL, "{\"uris\":[\"ldap://x/\"],\"bse_dn\":\"x\"}", &st),
                     SG_E_INVAL);
    assert_non_null(strstr(H.log, "did you mean \"base_dn\""));
    assert_null(sg_plugin_entry(SG_PLUGIN_ABI_MAJOR + 1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_password_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authoritative, setup_authoritative, teardown),
        cmocka_unit_test_setup_teardown(test_immediate_denials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publickey_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publickey_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kbdint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_while_running, setup, teardown),
        cmocka_unit_test_setup(test_fini_while_running, setup),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
