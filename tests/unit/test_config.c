/* test_config.c — unit tests of the config loader (core/config*.c). */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_json_pos.h"
#include "listener.h"

#ifndef SG_SOURCE_DIR
#define SG_SOURCE_DIR "."
#endif

static char err[2048];
static char warnings[8192];
static int n_warnings;

static void capture_warning(const char *msg, void *ud)
{
    (void)ud;
    n_warnings++;
    strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

static int group_setup(void **state)
{
    (void)state;
    sg_config_set_warning_cb(capture_warning, NULL);
    return 0;
}

static struct sg_config *load(const char *json)
{
    warnings[0] = '\0';
    n_warnings = 0;
    err[0] = '\0';
    return sg_config_load_string(json, "t.json", err, sizeof(err));
}

/* Load must fail with exactly this message. */
#define assert_error(json, expected)                                                               \
    do {                                                                                           \
        struct sg_config *c_ = load(json);                                                         \
        if (c_) {                                                                                  \
            sg_config_free(c_);                                                                    \
            fail_msg("loaded, expected error: %s", expected);                                      \
        }                                                                                          \
        assert_string_equal(err, expected);                                                        \
    } while (0)

/* Load must fail with a message containing this text. */
#define assert_error_has(json, part)                                                               \
    do {                                                                                           \
        struct sg_config *c_ = load(json);                                                         \
        if (c_) {                                                                                  \
            sg_config_free(c_);                                                                    \
            fail_msg("loaded, expected error containing: %s", part);                               \
        }                                                                                          \
        if (!strstr(err, part))                                                                    \
            fail_msg("error \"%s\" does not contain \"%s\"", err, part);                           \
    } while (0)

static struct sg_config *load_ok(const char *json)
{
    struct sg_config *c = load(json);
    if (!c)
        fail_msg("load failed: %s", err);
    return c;
}

static void assert_list(const struct sg_strlist *l, const char *const *expect)
{
    size_t n = 0;
    while (expect[n])
        n++;
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->v[i], expect[i]);
    assert_null(l->v[n]);
}

/* ---- defaults ----------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct sg_config *c = load_ok("{}");
    char cwd[PATH_MAX];

    assert_string_equal(c->path, "t.json");
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_string_equal(c->base_dir, cwd);
    assert_int_equal(c->n_listen, 1);
    assert_string_equal(c->listen[0].address, "127.0.0.1");
    assert_int_equal(c->listen[0].port, 2222);
    assert_int_equal(c->listen[0].backlog, 128);
    assert_list(&c->host_keys,
                (const char *[]){"state/ssh_host_ed25519_key", "state/ssh_host_ecdsa_key",
                                 "state/ssh_host_rsa_key", NULL});
    assert_int_equal(c->workers, 0);
    assert_string_equal(c->user, "");
    assert_true(c->plugin_dir[0] == '/');
    assert_string_equal(c->control_socket, "");
    assert_string_equal(c->pid_file, "");
    assert_int_equal(c->limits.max_connections, 1000);
    assert_int_equal(c->limits.max_startups_start, 10);
    assert_int_equal(c->limits.max_startups_rate, 30);
    assert_int_equal(c->limits.max_startups_full, 100);
    assert_int_equal(c->limits.per_source_max, 50);
    assert_int_equal(c->limits.per_source_penalty, 30);
    assert_int_equal(c->limits.per_source_penalty_failures, 10);
    assert_int_equal(c->limits.login_grace_time, 120);
    assert_int_equal(c->limits.max_auth_attempts, 6);
    assert_int_equal(c->limits.idle_timeout, 0);
    assert_int_equal(c->limits.timeout, 60);
    assert_int_equal(c->limits.max_channels, 64);
    assert_int_equal(c->limits.max_sessions, 10);
    assert_list(&c->algorithms.kex,
                (const char *[]){"curve25519-sha256", "curve25519-sha256@libssh.org",
                                 "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
                                 "diffie-hellman-group16-sha512", "diffie-hellman-group14-sha256",
                                 NULL});
    assert_list(&c->algorithms.ciphers,
                (const char *[]){"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com",
                                 "aes128-gcm@openssh.com", "aes256-ctr", "aes192-ctr", "aes128-ctr",
                                 NULL});
    assert_list(&c->algorithms.macs,
                (const char *[]){"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
                                 "hmac-sha2-256", "hmac-sha2-512", NULL});
    const char *keys[] = {"ssh-ed25519",
                          "ecdsa-sha2-nistp256",
                          "ecdsa-sha2-nistp384",
                          "ecdsa-sha2-nistp521",
                          "rsa-sha2-512",
                          "rsa-sha2-256",
                          NULL};
    assert_list(&c->algorithms.host_key, keys);
    assert_list(&c->algorithms.pubkey_auth,
                (const char *[]){"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                 "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256",
                                 "ssh-ed25519-cert-v01@openssh.com",
                                 "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                                 "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                                 "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                                 "rsa-sha2-512-cert-v01@openssh.com",
                                 "rsa-sha2-256-cert-v01@openssh.com", NULL});
    assert_list(&c->algorithms.compression, (const char *[]){"none", "zlib@openssh.com", NULL});
    assert_true(c->rekey.bytes == (uint64_t)1 << 30);
    assert_int_equal(c->rekey.seconds, 3600);
    assert_int_equal(c->keepalive.interval, 0);
    assert_int_equal(c->keepalive.count_max, 3);
    assert_int_equal(c->tcp.keepalive_time, 0);
    assert_int_equal(c->tcp.keepalive_interval, 0);
    assert_true(c->tcp.nodelay);
    assert_int_equal(c->tcp.rcvbuf, 0);
    assert_int_equal(c->tcp.sndbuf, 0);
    assert_true(strncmp(c->version_string, "sshgate_", 8) == 0);
    assert_string_equal(c->client_version_pattern, "");
    assert_string_equal(c->banner, "");
    assert_true(c->strict_kex);
    assert_int_equal(c->allowed_clients.n, 0);
    assert_int_equal(c->blocked_clients.n, 0);
    assert_int_equal(c->log.level, 1);
    assert_false(c->log.json);
    assert_true(c->log.mask_secrets);
    assert_int_equal(c->n_plugins, 0);
    assert_int_equal(c->auth.chain.n, 0);
    assert_list(&c->auth.methods,
                (const char *[]){"publickey", "password", "keyboard-interactive", NULL});
    assert_int_equal(c->auth.n_required, 0);
    assert_string_equal(c->auth.kbd_instruction, "");
    assert_int_equal(c->auth.n_kbd_prompts, 1);
    assert_string_equal(c->auth.kbd_prompts[0].prompt, "Password: ");
    assert_false(c->auth.kbd_prompts[0].echo);
    assert_false(c->auth.fire_after_signature);
    assert_int_equal(c->n_routes, 0);
    assert_int_equal(c->warnings.n, 0);
    sg_config_free(c);
}

static void test_values(void **state)
{
    (void)state;
    struct sg_config *c = load_ok(
        "{\"listen\": [{\"address\": \"::1\", \"port\": 22, \"backlog\": 10},"
        "              {\"address\": \"0.0.0.0\", \"port\": 22}],"
        " \"host_keys\": [\"/etc/k1\"], \"workers\": 4, \"user\": \"sshgate\","
        " \"plugin_dir\": \"/opt/p\", \"control_socket\": \"run/ctl\", \"pid_file\": \"run/pid\","
        " \"limits\": {\"max_connections\": 100000, \"max_startups\": \"5:50:20\","
        "   \"per_source_max\": 0, \"per_source_penalty\": 0, \"per_source_penalty_failures\": 3,"
        "   \"login_grace_time\": 0, \"max_auth_attempts\": 3, \"idle_timeout\": 600,"
        "   \"timeout\": 5, \"max_channels\": 8, \"max_sessions\": 2},"
        " \"rekey\": {\"bytes\": 16384, \"seconds\": 0},"
        " \"keepalive\": {\"interval\": 15, \"count_max\": 5},"
        " \"tcp\": {\"keepalive_time\": 60, \"keepalive_interval\": 10, \"nodelay\": false,"
        "   \"rcvbuf\": 65536, \"sndbuf\": 131072},"
        " \"version_string\": \"MyServer_2.1 build 7-x\", \"client_version_pattern\": "
        "\"SSH-2.0-*\","
        " \"banner\": \"Welcome\\n\", \"strict_kex\": true,"
        " \"allowed_clients\": [\"10.0.0.0/8\", \"192.168.*\", \"::1\"],"
        " \"blocked_clients\": \"10.6.6.6\","
        " \"log\": {\"level\": 3, \"format\": \"json\", \"mask_secrets\": false}}");
    assert_int_equal(c->n_listen, 2);
    assert_string_equal(c->listen[0].address, "::1");
    assert_int_equal(c->listen[0].port, 22);
    assert_int_equal(c->listen[0].backlog, 10);
    assert_string_equal(c->listen[1].address, "0.0.0.0");
    assert_int_equal(c->listen[1].backlog, 128);
    assert_list(&c->host_keys, (const char *[]){"/etc/k1", NULL});
    assert_int_equal(c->workers, 4);
    assert_string_equal(c->user, "sshgate");
    assert_string_equal(c->plugin_dir, "/opt/p");
    assert_string_equal(c->control_socket, "run/ctl");
    assert_string_equal(c->pid_file, "run/pid");
    assert_int_equal(c->limits.max_connections, 100000);
    assert_int_equal(c->limits.max_startups_start, 5);
    assert_int_equal(c->limits.max_startups_rate, 50);
    assert_int_equal(c->limits.max_startups_full, 20);
    assert_int_equal(c->limits.per_source_penalty_failures, 3);
    assert_int_equal(c->limits.idle_timeout, 600);
    assert_int_equal(c->limits.max_sessions, 2);
    assert_true(c->rekey.bytes == 16384);
    assert_int_equal(c->rekey.seconds, 0);
    assert_int_equal(c->keepalive.interval, 15);
    assert_int_equal(c->keepalive.count_max, 5);
    assert_false(c->tcp.nodelay);
    assert_int_equal(c->tcp.sndbuf, 131072);
    assert_string_equal(c->version_string, "MyServer_2.1 build 7-x");
    assert_string_equal(c->banner, "Welcome\n");
    assert_list(&c->allowed_clients, (const char *[]){"10.0.0.0/8", "192.168.*", "::1", NULL});
    assert_list(&c->blocked_clients, (const char *[]){"10.6.6.6", NULL});
    assert_int_equal(c->log.level, 3);
    assert_true(c->log.json);
    assert_false(c->log.mask_secrets);
    sg_config_free(c);

    c = load_ok("{\"workers\": \"auto\", \"limits\": {\"max_startups\": 7}}");
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->limits.max_startups_start, 7);
    assert_int_equal(c->limits.max_startups_rate, 100);
    assert_int_equal(c->limits.max_startups_full, 7);
    sg_config_free(c);
}

/* ---- error classes, with exact positions -------------------------------- */

static void test_parse_errors(void **state)
{
    (void)state;
    assert_error("{\n  \"a\": 1,\n}", "t.json:3:1: invalid JSON: string or '}' expected near '}'");
    assert_error("{\"listen\": [], \"listen\": []}",
                 "t.json:1:23: invalid JSON: duplicate object key near '\"listen\"'");
    assert_error("", "t.json:1:1: invalid JSON: '[' or '{' expected near end of file");
    assert_error("[1, 2]", "t.json:1:1: $: expected an object, got an array");
    /* the message stays on one line even when jansson quotes input with newlines */
    assert_null(load("{\"a\n\nb\": 1}"));
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "t.json:1:"));
}

static void test_unknown_keys(void **state)
{
    (void)state;
    assert_error("{\n  \"limits\": {\n    \"max_startupz\": \"1:2:3\"\n  }\n}",
                 "t.json:3:5: $.limits.max_startupz: unknown key 'max_startupz' "
                 "(did you mean 'max_startups'?)");
    assert_error("{\"Listen\": []}",
                 "t.json:1:2: $.Listen: unknown key 'Listen' (did you mean 'listen'?)");
    assert_error("{\"hostkeys\": []}",
                 "t.json:1:2: $.hostkeys: unknown key 'hostkeys' (did you mean 'host_keys'?)");
    assert_error("{\"frobnicate\": 1}", "t.json:1:2: $.frobnicate: unknown key 'frobnicate'");
    assert_error("{\"auth\": {\"keyboard_interactive\": {\"promts\": []}}}",
                 "t.json:1:36: $.auth.keyboard_interactive.promts: unknown key 'promts' "
                 "(did you mean 'prompts'?)");
    /* keys that need escaping in the path; columns count characters */
    assert_error("{\"banner\": \"\xc3\xa9\xc3\xa9\", \"a b\": 1}",
                 "t.json:1:18: $[\"a b\"]: unknown key 'a b'");
    assert_error(
        "{\n\"routes\": [{\"plugin\": \"x\", \"match\": {\"kind\": \"*\"}, \"confi\": {}}]}",
        "t.json:2:52: $.routes[0].confi: unknown key 'confi' (did you mean 'config'?)");
}

static void test_wrong_types(void **state)
{
    (void)state;
    assert_error("{\"workers\": true}",
                 "t.json:1:13: $.workers: expected an integer or \"auto\", got a boolean");
    assert_error("{\"workers\": \"many\"}",
                 "t.json:1:13: $.workers: expected a number of workers (1..1024) or \"auto\", got "
                 "'many'");
    assert_error("{\"workers\": 0}", "t.json:1:13: $.workers: 0 is out of range (1..1024)");
    assert_error("{\"limits\": {\"max_connections\": \"10\"}}",
                 "t.json:1:32: $.limits.max_connections: expected an integer, got a string");
    assert_error("{\"limits\": {\"max_connections\": 1.5}}",
                 "t.json:1:32: $.limits.max_connections: expected an integer, got a number with a "
                 "fraction");
    assert_error("{\"limits\": {\"max_connections\": 100001}}",
                 "t.json:1:32: $.limits.max_connections: 100001 is out of range (1..100000)");
    assert_error("{\"limits\": {\"login_grace_time\": -1}}",
                 "t.json:1:33: $.limits.login_grace_time: -1 seconds is out of range (0..2147483)");
    assert_error("{\"limits\": []}", "t.json:1:12: $.limits: expected an object, got an array");
    assert_error("{\"tcp\": {\"nodelay\": 1}}",
                 "t.json:1:21: $.tcp.nodelay: expected true or false, got an integer");
    assert_error("{\"banner\": null}", "t.json:1:12: $.banner: expected a string, got null");
    assert_error("{\"host_keys\": [\"a\", 3]}",
                 "t.json:1:21: $.host_keys[1]: expected a string, got an integer");
    assert_error("{\"host_keys\": []}", "t.json:1:15: $.host_keys: must list at least one entry");
    assert_error("{\"host_keys\": [\"a\", \"a\"]}",
                 "t.json:1:21: $.host_keys[1]: 'a' is listed twice");
    assert_error("{\"log\": {\"level\": 4}}", "t.json:1:19: $.log.level: 4 is out of range (0..3)");
    assert_error("{\"log\": {\"format\": \"jsno\"}}",
                 "t.json:1:20: $.log.format: unknown log format 'jsno' (did you mean 'json'?): "
                 "expected \"text\" or \"json\"");
    assert_error("{\"rekey\": {\"bytes\": 1000}}",
                 "t.json:1:21: $.rekey.bytes: 1000 bytes is too small (at least 16384)");
    assert_error("{\"strict_kex\": false}",
                 "t.json:1:16: $.strict_kex: libssh 0.10.6 always offers strict key exchange "
                 "(kex-strict-s-v00@openssh.com) and cannot turn it off; remove the key or set it "
                 "to true");
}

static void test_max_startups(void **state)
{
    (void)state;
    assert_error("{\"limits\": {\"max_startups\": \"10:30\"}}",
                 "t.json:1:29: $.limits.max_startups: '10:30' is not \"start:rate:full\" (e.g. "
                 "\"10:30:100\")");
    assert_error_has("{\"limits\": {\"max_startups\": \"0:30:100\"}}",
                     "start must be between 1 and full");
    assert_error_has("{\"limits\": {\"max_startups\": \"200:30:100\"}}",
                     "start must be between 1 and full");
    assert_error_has("{\"limits\": {\"max_startups\": \"10:0:100\"}}",
                     "rate must be a percentage 1..100 (got 0)");
    assert_error_has("{\"limits\": {\"max_startups\": \"10:101:100\"}}", "rate must be");
    assert_error_has("{\"limits\": {\"max_startups\": \"10:30:100x\"}}", "is not \"start:rate");
    assert_error_has("{\"limits\": {\"max_startups\": \"-1:30:100\"}}", "is not \"start:rate");
    assert_error_has("{\"limits\": {\"max_startups\": true}}", "expected a \"start:rate:full\"");
}

static void test_listen(void **state)
{
    (void)state;
    assert_error("{\"listen\": [{\"address\": \"localhost\"}]}",
                 "t.json:1:25: $.listen[0].address: 'localhost' is not a numeric IPv4 or IPv6 "
                 "address (host names are not resolved)");
    assert_error_has("{\"listen\": [{\"address\": \"[::1]\"}]}", "without brackets");
    assert_error("{\"listen\": [{\"port\": 0}]}",
                 "t.json:1:22: $.listen[0].port: 0 is out of range (1..65535)");
    assert_error_has("{\"listen\": [{\"port\": 65536}]}", "65536 is out of range");
    assert_error("{\"listen\": []}",
                 "t.json:1:12: $.listen: must list at least one address to listen on");
    assert_error("{\"listen\": [{\"address\": \"::1\", \"port\": 22},"
                 " {\"address\": \"0:0::1\", \"port\": 22}]}",
                 "t.json:1:45: $.listen[1]: 0:0::1 port 22 is already listed at $.listen[0]");
    assert_error("{\"listen\": [{\"adress\": \"::1\"}]}",
                 "t.json:1:14: $.listen[0].adress: unknown key 'adress' (did you mean "
                 "'address'?)");
    assert_error_has("{\"listen\": {\"address\": \"::1\"}}", "expected an array");
}

static void test_version_string(void **state)
{
    (void)state;
    assert_error_has("{\"version_string\": \"SSH-2.0-foo\"}", "write only the part after");
    assert_error("{\"version_string\": \"my-server\"}",
                 "t.json:1:20: $.version_string: the software version must not contain '-' (RFC "
                 "4253); use '_'");
    assert_error_has("{\"version_string\": \"a\\tb\"}", "not printable US-ASCII");
    assert_error_has("{\"version_string\": \"\"}", "must not be empty");
    assert_error_has("{\"version_string\": \" x\"}", "not a space");
    char big[400];
    snprintf(big, sizeof(big), "{\"version_string\": \"%0300d\"}", 1);
    assert_error_has(big, "too long");
}

/* ---- algorithms --------------------------------------------------------- */

static void test_algorithms(void **state)
{
    (void)state;
    struct sg_config *c;

    /* weak names are accepted when listed, with one warning each */
    c = load_ok("{\"algorithms\": {\n"
                "  \"kex\": [\"curve25519-sha256\", \"diffie-hellman-group14-sha1\"],\n"
                "  \"ciphers\": [\"aes128-ctr\", \"aes128-cbc\", \"3des-cbc\"],\n"
                "  \"macs\": [\"hmac-sha1\"],\n"
                "  \"host_key\": [\"ssh-ed25519\", \"ssh-rsa\"],\n"
                "  \"pubkey_auth\": [\"sk-ssh-ed25519@openssh.com\", \"rsa-sha2-256\"],\n"
                "  \"compression\": [\"zlib\", \"none\"]}}");
    assert_int_equal(n_warnings, 5);
    assert_int_equal(c->warnings.n, 5);
    assert_string_equal(c->warnings.v[0],
                        "t.json:2:32: $.algorithms.kex[1]: warning: weak key exchange algorithm "
                        "'diffie-hellman-group14-sha1' enabled (SHA-1 exchange hash); accepted "
                        "only because it is listed explicitly");
    assert_non_null(strstr(warnings, "$.algorithms.ciphers[2]: warning: weak cipher '3des-cbc'"));
    assert_non_null(strstr(warnings, "$.algorithms.host_key[1]: warning: weak host key "
                                     "algorithm 'ssh-rsa'"));
    assert_list(&c->algorithms.ciphers,
                (const char *[]){"aes128-ctr", "aes128-cbc", "3des-cbc", NULL});
    assert_list(&c->algorithms.compression, (const char *[]){"zlib", "none", NULL});
    sg_config_free(c);

    /* the defaults are not weak */
    c = load_ok("{}");
    assert_int_equal(n_warnings, 0);
    sg_config_free(c);

    /* a comma-separated string works like a list */
    c = load_ok("{\"algorithms\": {\"ciphers\": \"aes256-gcm@openssh.com,aes128-ctr\"}}");
    assert_list(&c->algorithms.ciphers,
                (const char *[]){"aes256-gcm@openssh.com", "aes128-ctr", NULL});
    sg_config_free(c);

    assert_error("{\"algorithms\": {\"ciphers\": [\"aes128-ctr\", \"arcfour256\"]}}",
                 "t.json:1:43: $.algorithms.ciphers[1]: libssh 0.10.6 does not implement "
                 "'arcfour256'");
    const char *unsupported[][2] = {
        {"ciphers", "blowfish-cbc"},
        {"ciphers", "cast128-cbc"},
        {"ciphers", "3des-ctr"},
        {"macs", "hmac-md5"},
        {"macs", "hmac-md5-96"},
        {"macs", "umac-64@openssh.com"},
        {"macs", "hmac-ripemd160"},
        {"macs", "hmac-sha2-256-96"},
        {"host_key", "ssh-dss"},
        {"pubkey_auth", "x509v3-sign-rsa"},
        {"kex", "gss-gex-sha1-toWM5Slw5Ew8Mqkay+al2g=="},
        {"kex", "sntrup761x25519-sha512@openssh.com"},
    };
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        char json[256], want[256];
        snprintf(json, sizeof(json), "{\"algorithms\": {\"%s\": [\"%s\"]}}", unsupported[i][0],
                 unsupported[i][1]);
        snprintf(want, sizeof(want), "libssh 0.10.6 does not implement '%s'", unsupported[i][1]);
        assert_error_has(json, want);
    }
    assert_error_has("{\"algorithms\": {\"macs\": [\"none\"]}}",
                     "libssh 0.10.6 does not implement MAC 'none'");
    assert_error_has("{\"algorithms\": {\"ciphers\": [\"none\"]}}",
                     "libssh 0.10.6 does not implement cipher 'none'");
    assert_error("{\"algorithms\": {\"compression\": [\"no\"]}}",
                 "t.json:1:33: $.algorithms.compression[0]: 'no' is not a compression method: in "
                 "libssh 0.10.6 it still negotiates zlib; write \"none\" for no compression");
    assert_error("{\"algorithms\": {\"macs\": [\"hmac-sha2-265\"]}}",
                 "t.json:1:26: $.algorithms.macs[0]: unknown MAC 'hmac-sha2-265' (did you mean "
                 "'hmac-sha2-256'?)");
    assert_error("{\"algorithms\": {\"ciphers\": [\"hmac-sha1\"]}}",
                 "t.json:1:29: $.algorithms.ciphers[0]: 'hmac-sha1' is a MAC (algorithms.macs), "
                 "not a cipher");
    assert_error_has("{\"algorithms\": {\"host_key\": [\"sk-ssh-ed25519@openssh.com\"]}}",
                     "cannot be a server host key");
    assert_error_has("{\"algorithms\": {\"kex\": []}}", "must list at least one entry");
    assert_error_has("{\"algorithms\": {\"kex\": [\"curve25519-sha256\", \"curve25519-sha256\"]}}",
                     "'curve25519-sha256' is listed twice");
    assert_error_has("{\"algorithms\": {\"kex\": \"curve25519-sha256,,ecdh-sha2-nistp256\"}}",
                     "empty name");
    assert_error_has("{\"algorithms\": {\"kex\": \"foo\"}}",
                     "unknown key exchange algorithm 'foo'");
    assert_error_has("{\"algorithms\": {\"cipher\": []}}", "(did you mean 'ciphers'?)");
}

/* ---- plugins ------------------------------------------------------------ */

static void test_plugins(void **state)
{
    (void)state;
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    struct sg_config *c;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    c = load_ok("{\"plugin_dir\": \"/opt/sg\", \"plugins\": ["
                "{\"name\": \"a\"},"
                "{\"name\": \"b\", \"path\": \"other.so\"},"
                "{\"name\": \"c\", \"path\": \"lib/c.so\"},"
                "{\"name\": \"d_2-x\", \"path\": \"/usr/lib/d.so\", \"config\": {\"k\": [1, \"v\"],"
                " \"o\": {}}}]}");
    assert_int_equal(c->n_plugins, 4);
    assert_string_equal(c->plugins[0].name, "a");
    assert_string_equal(c->plugins[0].path, "/opt/sg/a.so");
    assert_string_equal(c->plugins[0].config_json, "{}");
    assert_string_equal(c->plugins[1].path, "/opt/sg/other.so");
    snprintf(want, sizeof(want), "%s/lib/c.so", cwd);
    assert_string_equal(c->plugins[2].path, want);
    assert_string_equal(c->plugins[3].path, "/usr/lib/d.so");
    assert_string_equal(c->plugins[3].config_json, "{\"k\":[1,\"v\"],\"o\":{}}");
    assert_ptr_equal(sg_config_plugin(c, "c"), &c->plugins[2]);
    assert_null(sg_config_plugin(c, "zz"));
    /* no auth-file plugin: the chain stays empty */
    assert_int_equal(c->auth.chain.n, 0);
    sg_config_free(c);

    /* relative plugin_dir resolves against base_dir */
    c = load_ok("{\"plugin_dir\": \"plugins\", \"plugins\": [{\"name\": \"x\"}]}");
    snprintf(want, sizeof(want), "%s/plugins/x.so", cwd);
    assert_string_equal(c->plugins[0].path, want);
    assert_string_equal(c->plugin_dir, "plugins");
    sg_config_free(c);

    assert_error("{\"plugins\": [{\"path\": \"/x.so\"}]}",
                 "t.json:1:14: $.plugins[0]: missing required key 'name'");
    assert_error("{\"plugins\": [{\"name\": \"Bad.Name\"}]}",
                 "t.json:1:23: $.plugins[0].name: plugin name 'Bad.Name' may only contain a-z, "
                 "0-9, '_' and '-'");
    assert_error("{\"plugins\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
                 "t.json:1:38: $.plugins[1].name: duplicate plugin name 'a' (also $.plugins[0])");
    assert_error("{\"plugins\": [{\"name\": \"a\", \"config\": []}]}",
                 "t.json:1:38: $.plugins[0].config: expected an object, got an array");
    assert_error_has("{\"plugins\": [{\"name\": \"\"}]}", "must not be empty");
    assert_error_has("{\"plugins\": [\"a\"]}", "$.plugins[0]: expected an object, got a string");
}

/* ---- auth --------------------------------------------------------------- */

static void test_auth(void **state)
{
    (void)state;
    struct sg_config *c;

    /* default chain when a plugin named auth-file exists */
    c = load_ok("{\"plugins\": [{\"name\": \"sftp\"}, {\"name\": \"auth-file\"}]}");
    assert_list(&c->auth.chain, (const char *[]){"auth-file", NULL});
    sg_config_free(c);

    /* an explicit empty chain stays empty */
    c = load_ok("{\"plugins\": [{\"name\": \"auth-file\"}], \"auth\": {\"chain\": []}}");
    assert_int_equal(c->auth.chain.n, 0);
    sg_config_free(c);

    /* MFA sets, prompts */
    c = load_ok("{\"plugins\": [{\"name\": \"ldap\"}, {\"name\": \"otp\"}],"
                " \"auth\": {\"chain\": [\"ldap\", \"otp\"],"
                "  \"methods\": [\"publickey\", \"keyboard-interactive\", \"password\"],"
                "  \"required\": [[\"publickey\", \"keyboard-interactive\"], [\"password\"]],"
                "  \"keyboard_interactive\": {\"instruction\": \"Two steps\", \"prompts\": ["
                "    {\"prompt\": \"Password: \"}, {\"prompt\": \"Code: \", \"echo\": true}]},"
                "  \"fire_after_signature\": true}}");
    assert_list(&c->auth.chain, (const char *[]){"ldap", "otp", NULL});
    assert_int_equal(c->auth.n_required, 2);
    assert_list(&c->auth.required[0], (const char *[]){"publickey", "keyboard-interactive", NULL});
    assert_list(&c->auth.required[1], (const char *[]){"password", NULL});
    assert_string_equal(c->auth.kbd_instruction, "Two steps");
    assert_int_equal(c->auth.n_kbd_prompts, 2);
    assert_string_equal(c->auth.kbd_prompts[1].prompt, "Code: ");
    assert_true(c->auth.kbd_prompts[1].echo);
    assert_false(c->auth.kbd_prompts[0].echo);
    assert_true(c->auth.fire_after_signature);
    sg_config_free(c);

    assert_error(
        "{\"plugins\": [{\"name\": \"auth-file\"}], \"auth\": {\"chain\": [\"auth-fil\"]}}",
        "t.json:1:57: $.auth.chain[0]: unknown plugin 'auth-fil': not declared in "
        "$.plugins (did you mean 'auth-file'?)");
    assert_error("{\"auth\": {\"chain\": [\"x\"]}}",
                 "t.json:1:21: $.auth.chain[0]: unknown plugin 'x': $.plugins is empty");
    assert_error("{\"auth\": {\"methods\": [\"pasword\"]}}",
                 "t.json:1:23: $.auth.methods[0]: unknown auth method 'pasword' (did you mean "
                 "'password'?): expected none, password, publickey or keyboard-interactive");
    assert_error_has("{\"auth\": {\"methods\": []}}", "must list at least one entry");
    assert_error("{\"auth\": {\"methods\": [\"publickey\"], \"required\": [[\"publickey\", "
                 "\"password\"]]}}",
                 "t.json:1:64: $.auth.required[0][1]: method 'password' is required here but not "
                 "offered in $.auth.methods");
    assert_error_has("{\"auth\": {\"required\": [\"publickey\"]}}",
                     "$.auth.required[0]: expected an array of method names, got a string");
    assert_error_has("{\"auth\": {\"required\": [[]]}}", "must list at least one entry");
    assert_error_has("{\"auth\": {\"keyboard_interactive\": {\"prompts\": []}}}",
                     "must list 1..16 prompts");
    assert_error("{\"auth\": {\"keyboard_interactive\": {\"prompts\": [{\"echo\": true}]}}}",
                 "t.json:1:48: $.auth.keyboard_interactive.prompts[0]: missing required key "
                 "'prompt'");
}

/* ---- routes ------------------------------------------------------------- */

#define ROUTE_PLUGINS "\"plugins\": [{\"name\": \"p\"}, {\"name\": \"shell\"}]"

static void test_routes(void **state)
{
    (void)state;
    struct sg_config *c = load_ok(
        "{" ROUTE_PLUGINS ", \"routes\": ["
        "{\"name\": \"r0\", \"match\": {\"kind\": \"subsystem\", \"subsystem\": \"sftp\","
        "  \"user\": \"a*\", \"group\": [\"g1\", \"g2\"], \"source\": [\"10.0.0.0/8\", \"::1\"]},"
        "  \"plugin\": \"p\", \"config\": {\"root\": \"/srv/%u\"}},"
        "{\"match\": {\"kind\": \"exec\", \"command\": \"git-* *\"}, \"plugin\": \"shell\"},"
        "{\"match\": {\"kind\": \"shell\", \"source\": \"192.168.1.7\"}, \"plugin\": \"shell\"},"
        "{\"match\": {\"kind\": \"direct-tcpip\"}, \"plugin\": \"p\"},"
        "{\"match\": {\"kind\": \"tcpip-forward\"}, \"plugin\": \"p\"},"
        "{\"match\": {\"kind\": \"*\", \"user\": []}, \"plugin\": \"p\"}]}");
    assert_int_equal(c->n_routes, 6);
    struct sg_route *r = &c->routes[0];
    assert_string_equal(r->name, "r0");
    assert_int_equal(r->kind, SG_ROUTE_SUBSYSTEM);
    assert_string_equal(r->subsystem, "sftp");
    assert_string_equal(r->command, "");
    assert_list(&r->users, (const char *[]){"a*", NULL});
    assert_list(&r->groups, (const char *[]){"g1", "g2", NULL});
    assert_int_equal(r->n_sources, 2);
    assert_int_equal(r->sources[0].family, AF_INET);
    assert_int_equal(r->sources[0].prefix, 8);
    assert_int_equal(r->sources[1].family, AF_INET6);
    assert_int_equal(r->sources[1].prefix, 128);
    assert_string_equal(r->plugin, "p");
    assert_string_equal(r->config_json, "{\"root\":\"/srv/%u\"}");
    r = &c->routes[1];
    assert_string_equal(r->name, "");
    assert_int_equal(r->kind, SG_ROUTE_EXEC);
    assert_string_equal(r->command, "git-* *");
    assert_string_equal(r->config_json, "{}");
    assert_int_equal(r->users.n, 0);
    assert_non_null(r->users.v);
    assert_int_equal(r->n_sources, 0);
    assert_int_equal(c->routes[2].kind, SG_ROUTE_SHELL);
    assert_int_equal(c->routes[2].n_sources, 1);
    assert_int_equal(c->routes[2].sources[0].prefix, 32);
    assert_int_equal(c->routes[3].kind, SG_ROUTE_DIRECT_TCPIP);
    assert_int_equal(c->routes[4].kind, SG_ROUTE_TCPIP_FORWARD);
    assert_int_equal(c->routes[5].kind, SG_ROUTE_ANY);
    assert_string_equal(sg_route_kind_name(SG_ROUTE_TCPIP_FORWARD), "tcpip-forward");
    sg_config_free(c);

    assert_error("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"shell\", "
                 "\"command\": \"x\"}, \"plugin\": \"shell\"}]}",
                 "t.json:1:88: $.routes[0].match.command: 'command' only applies to kind "
                 "\"exec\" (this route matches \"shell\")");
    assert_error_has("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"exec\", "
                     "\"subsystem\": \"sftp\"}, \"plugin\": \"p\"}]}",
                     "'subsystem' only applies to kind \"subsystem\"");
    assert_error("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {}, \"plugin\": \"p\"}]}",
                 "t.json:1:70: $.routes[0].match: missing required key 'kind'");
    assert_error("{" ROUTE_PLUGINS ", \"routes\": [{\"plugin\": \"p\"}]}",
                 "t.json:1:60: $.routes[0]: missing required key 'match'");
    assert_error_has("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"*\"}}]}",
                     "$.routes[0]: missing required key 'plugin'");
    assert_error("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"shel\"}, "
                 "\"plugin\": \"p\"}]}",
                 "t.json:1:79: $.routes[0].match.kind: unknown request kind 'shel' (did you mean "
                 "'shell'?): expected \"*\", \"shell\", \"exec\", \"subsystem\", "
                 "\"direct-tcpip\" or \"tcpip-forward\"");
    assert_error("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"*\"}, "
                 "\"plugin\": \"shel\"}]}",
                 "t.json:1:95: $.routes[0].plugin: unknown plugin 'shel': not declared in "
                 "$.plugins (did you mean 'shell'?)");
    assert_error("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"*\", \"source\": "
                 "[\"10.0.0.0/33\"]}, \"plugin\": \"p\"}]}",
                 "t.json:1:95: $.routes[0].match.source[0]: '10.0.0.0/33' is not an IP address "
                 "or CIDR (e.g. \"10.0.0.0/8\", \"::1\")");
    assert_error_has("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"*\", \"user\": "
                     "[1]}, \"plugin\": \"p\"}]}",
                     "$.routes[0].match.user[0]: expected a string, got an integer");
    assert_error_has("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"*\", \"grup\": "
                     "\"x\"}, \"plugin\": \"p\"}]}",
                     "unknown key 'grup' (did you mean 'group'?)");
    assert_error_has("{" ROUTE_PLUGINS ", \"routes\": [{\"match\": {\"kind\": \"subsystem\", "
                     "\"subsystem\": \"\"}, \"plugin\": \"p\"}]}",
                     "must not be empty");
}

/* ---- CIDRs and client patterns ------------------------------------------- */

static void addr4(const char *s, uint8_t out[4])
{
    assert_int_equal(inet_pton(AF_INET, s, out), 1);
}

static void addr6(const char *s, uint8_t out[16])
{
    assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static void test_cidr(void **state)
{
    (void)state;
    struct sg_cidr c;
    uint8_t a4[4], a6[16];
    char buf[64];

    assert_int_equal(sg_cidr_parse("10.1.2.3/8", &c), 0);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(sg_cidr_format(&c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "10.0.0.0/8"); /* host bits cleared */
    addr4("10.200.0.1", a4);
    assert_true(sg_cidr_match(&c, AF_INET, a4));
    addr4("11.0.0.1", a4);
    assert_false(sg_cidr_match(&c, AF_INET, a4));
    /* IPv4-mapped IPv6 matches an IPv4 CIDR */
    addr6("::ffff:10.9.8.7", a6);
    assert_true(sg_cidr_match(&c, AF_INET6, a6));
    addr6("::ffff:11.9.8.7", a6);
    assert_false(sg_cidr_match(&c, AF_INET6, a6));
    addr6("::a09:807", a6); /* not mapped */
    assert_false(sg_cidr_match(&c, AF_INET6, a6));

    assert_int_equal(sg_cidr_parse("192.168.1.7", &c), 0);
    assert_int_equal(c.prefix, 32);
    addr4("192.168.1.7", a4);
    assert_true(sg_cidr_match(&c, AF_INET, a4));
    addr4("192.168.1.8", a4);
    assert_false(sg_cidr_match(&c, AF_INET, a4));

    assert_int_equal(sg_cidr_parse("192.168.1.0/25", &c), 0);
    addr4("192.168.1.127", a4);
    assert_true(sg_cidr_match(&c, AF_INET, a4));
    addr4("192.168.1.128", a4);
    assert_false(sg_cidr_match(&c, AF_INET, a4));

    assert_int_equal(sg_cidr_parse("0.0.0.0/0", &c), 0);
    addr4("1.2.3.4", a4);
    assert_true(sg_cidr_match(&c, AF_INET, a4));
    addr6("2001:db8::1", a6);
    assert_false(sg_cidr_match(&c, AF_INET6, a6));

    assert_int_equal(sg_cidr_parse("2001:db8::/32", &c), 0);
    assert_int_equal(c.family, AF_INET6);
    assert_true(sg_cidr_match(&c, AF_INET6, a6));
    addr6("2001:db9::1", a6);
    assert_false(sg_cidr_match(&c, AF_INET6, a6));
    assert_false(sg_cidr_match(&c, AF_INET, a4));
    assert_int_equal(sg_cidr_format(&c, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2001:db8::/32");

    assert_int_equal(sg_cidr_parse("::1", &c), 0);
    assert_int_equal(c.prefix, 128);
    addr6("::1", a6);
    assert_true(sg_cidr_match(&c, AF_INET6, a6));

    /* an IPv6 CIDR covering the mapped range matches an IPv4 address */
    assert_int_equal(sg_cidr_parse("::ffff:0:0/96", &c), 0);
    assert_true(sg_cidr_match(&c, AF_INET, a4));

    const char *bad[] = {
        "",      "/8",      "1.2.3.4/",    "1.2.3.4/33",   "::1/129",   "1.2.3.4/-1", "1.2.3.4/ 8",
        "1.2.3", "a.b.c.d", "1.2.3.4/8/9", "1.2.3.4/0008", "localhost", "[::1]",      "1.2.3.4 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sg_cidr_parse(bad[i], &c) == 0)
            fail_msg("'%s' parsed as a CIDR", bad[i]);
}

/* The admission check (listener.c): a peer on a dual-stack listener arrives
 * as ::ffff:a.b.c.d and must meet the IPv4 patterns (globs included). */
static void test_client_admission_v4_mapped(void **state)
{
    (void)state;
    struct sg_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET6, "::ffff:192.168.4.5", &s6.sin6_addr);
    inet_pton(AF_INET, "192.168.4.5", &s4.sin_addr);
    cfg.blocked_clients = (struct sg_strlist){(char *[]){"192.168.*", NULL}, 1};
    assert_false(sg_client_allowed(&cfg, (struct sockaddr *)&s4));
    assert_false(sg_client_allowed(&cfg, (struct sockaddr *)&s6));
    cfg.blocked_clients = (struct sg_strlist){(char *[]){"192.168.0.0/16", NULL}, 1};
    assert_false(sg_client_allowed(&cfg, (struct sockaddr *)&s6));
    cfg.blocked_clients = (struct sg_strlist){(char *[]){"10.*", NULL}, 1};
    assert_true(sg_client_allowed(&cfg, (struct sockaddr *)&s6));
    cfg.blocked_clients = (struct sg_strlist){0};
    cfg.allowed_clients = (struct sg_strlist){(char *[]){"192.168.4.*", NULL}, 1};
    assert_true(sg_client_allowed(&cfg, (struct sockaddr *)&s6));
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
    assert_false(sg_client_allowed(&cfg, (struct sockaddr *)&s6));
}

static void test_client_patterns(void **state)
{
    (void)state;
    uint8_t a4[4], a6[16];

    addr4("192.168.4.5", a4);
    addr6("::ffff:192.168.4.5", a6);
    assert_true(sg_client_pattern_match("192.168.*", AF_INET, a4));
    assert_true(sg_client_pattern_match("192.168.*", AF_INET6, a6));
    assert_true(sg_client_pattern_match("192.168.0.0/16", AF_INET6, a6));
    assert_true(sg_client_pattern_match("192.168.4.5", AF_INET, a4));
    assert_false(sg_client_pattern_match("10.*", AF_INET, a4));
    assert_false(sg_client_pattern_match("192.168.4.?0", AF_INET, a4));
    addr6("2001:db8::7", a6);
    assert_true(sg_client_pattern_match("2001:db8::*", AF_INET6, a6));
    assert_false(sg_client_pattern_match("192.168.*", AF_INET6, a6));

    struct sg_strlist l = {(char *[]){"10.0.0.0/8", "192.168.*", NULL}, 2};
    assert_true(sg_client_list_match(&l, AF_INET, a4 /* 192.168.4.5 */));
    addr4("172.16.0.1", a4);
    assert_false(sg_client_list_match(&l, AF_INET, a4));

    assert_true(sg_client_pattern_valid("192.168.*"));
    assert_true(sg_client_pattern_valid("10.0.0.0/8"));
    assert_true(sg_client_pattern_valid("fe80::*"));
    assert_false(sg_client_pattern_valid("example.com"));
    assert_false(sg_client_pattern_valid("*.example.com"));
    assert_false(sg_client_pattern_valid("10.0.0.0/40"));
    assert_false(sg_client_pattern_valid(""));

    assert_error("{\"allowed_clients\": [\"10.0.0.0/8\", \"host.example.com\"]}",
                 "t.json:1:36: $.allowed_clients[1]: 'host.example.com' is not an IP address, "
                 "CIDR or IP glob such as \"192.168.*\" (host names are not supported)");
    assert_error_has("{\"blocked_clients\": \"10.0.0.0/99\"}",
                     "$.blocked_clients: '10.0.0.0/99' is not a valid CIDR");
}

static void test_strlist_helpers(void **state)
{
    (void)state;
    struct sg_strlist l = {(char *[]){"a", "bc", "d", NULL}, 3}, e = {(char *[]){NULL}, 0};
    char *s = sg_strlist_join(&l, ',');
    assert_string_equal(s, "a,bc,d");
    free(s);
    s = sg_strlist_join(&e, ',');
    assert_string_equal(s, "");
    free(s);
    assert_true(sg_strlist_contains(&l, "bc"));
    assert_false(sg_strlist_contains(&l, "b"));
}

/* ---- positions ---------------------------------------------------------- */

static void test_json_pos(void **state)
{
    (void)state;
    const char *t = "{\n  \"a\": [1, {\"b\\u00e9\": \"x\"}, [true]],\n\t\"c d\": {\"e\": null}\n}";
    int line, col;
    struct sg_jpath p;

    assert_int_equal(sg_json_pos_find(t, strlen(t), "$", false, &line, &col), 0);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    /* "b\u00e9" decodes to "bé": not [A-Za-z0-9_-], so the path uses the bracket form */
    assert_int_equal(sg_json_pos_find(t, strlen(t), "$.a[1].b\xc3\xa9", false, &line, &col), -1);
    sg_jpath_init(&p);
    sg_jpath_push_key(&p, "a");
    sg_jpath_push_index(&p, 1);
    size_t old = sg_jpath_push_key(&p, "b\xc3\xa9");
    assert_string_equal(sg_jpath_str(&p), "$.a[1][\"b\xc3\xa9\"]");
    assert_int_equal(sg_json_pos_find(t, strlen(t), sg_jpath_str(&p), false, &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 24);
    assert_int_equal(sg_json_pos_find(t, strlen(t), sg_jpath_str(&p), true, &line, &col), 0);
    assert_int_equal(col, 13);
    sg_jpath_pop(&p, old);
    assert_string_equal(sg_jpath_str(&p), "$.a[1]");
    sg_jpath_free(&p);
    assert_int_equal(sg_json_pos_find(t, strlen(t), "$.a[2][0]", false, &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 31);
    assert_int_equal(sg_json_pos_find(t, strlen(t), "$[\"c d\"].e", false, &line, &col), 0);
    assert_int_equal(line, 3);
    assert_int_equal(col, 15);
    assert_int_equal(sg_json_pos_find(t, strlen(t), "$.zz", false, &line, &col), -1);
    /* truncated or broken text never crashes */
    for (size_t n = 0; n < strlen(t); n++)
        (void)sg_json_pos_find(t, n, "$[\"c d\"].e", false, &line, &col);
    assert_int_equal(sg_json_pos_find("{\"a\":", 5, "$.a", false, &line, &col), -1);
    assert_int_equal(sg_json_pos_find("[[[[", 4, "$[0][0][0][0]", false, &line, &col), -1);
}

/* ---- dump round trip ---------------------------------------------------- */

/* The dump as a string; *n_redacted (may be NULL) as sg_config_dump sets it. */
static char *dump_as(const struct sg_config *c, bool redact_secrets, size_t *n_redacted)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    assert_int_equal(sg_config_dump(c, fp, redact_secrets, n_redacted), 0);
    fclose(fp);
    return buf;
}

static char *dump(const struct sg_config *c)
{
    return dump_as(c, false, NULL);
}

static void round_trip(const char *json)
{
    struct sg_config *a = load_ok(json);
    char *da = dump(a);
    struct sg_config *b = sg_config_load_string(da, "dump.json", err, sizeof(err));
    if (!b)
        fail_msg("dump does not load: %s\n%s", err, da);
    char *db = dump(b);
    assert_string_equal(da, db);
    /* a few fields compared on the structs too */
    assert_int_equal(a->n_routes, b->n_routes);
    assert_int_equal(a->n_plugins, b->n_plugins);
    for (size_t i = 0; i < a->n_plugins; i++) {
        assert_string_equal(a->plugins[i].path, b->plugins[i].path);
        assert_string_equal(a->plugins[i].config_json, b->plugins[i].config_json);
    }
    for (size_t i = 0; i < a->n_routes; i++) {
        assert_int_equal(a->routes[i].kind, b->routes[i].kind);
        assert_string_equal(a->routes[i].config_json, b->routes[i].config_json);
        assert_int_equal(a->routes[i].n_sources, b->routes[i].n_sources);
        for (size_t k = 0; k < a->routes[i].n_sources; k++)
            assert_memory_equal(&a->routes[i].sources[k], &b->routes[i].sources[k],
                                sizeof(struct sg_cidr));
    }
    assert_true(a->rekey.bytes == b->rekey.bytes);
    assert_int_equal(a->workers, b->workers);
    assert_int_equal(a->auth.chain.n, b->auth.chain.n);
    free(da);
    free(db);
    sg_config_free(a);
    sg_config_free(b);
}

static void test_dump_redacts_secrets(void **state)
{
    (void)state;
    struct sg_config *c = load_ok(
        "{\"plugins\": [{\"name\": \"auth-ldap\", \"config\": {\"bind_password\": \"s3cr3t-A\","
        " \"uri\": \"ldap://x\", \"nested\": [{\"API_TOKEN\": \"s3cr3t-B\"}], \"password_file\": "
        "\"/f\"}}],"
        " \"routes\": [{\"match\": {\"kind\": \"exec\"}, \"plugin\": \"auth-ldap\","
        " \"config\": {\"client_secret\": \"s3cr3t-C\", \"empty_password\": \"\"}}]}");
    size_t n = 99;
    char *buf = dump_as(c, true, &n);
    assert_null(strstr(buf, "s3cr3t"));
    assert_non_null(strstr(buf, "\"bind_password\": \"<redacted>\""));
    assert_non_null(strstr(buf, "\"API_TOKEN\": \"<redacted>\""));
    assert_non_null(strstr(buf, "\"client_secret\": \"<redacted>\""));
    assert_non_null(strstr(buf, "\"password_file\": \"/f\"")); /* not a secret's name */
    assert_non_null(strstr(buf, "\"uri\": \"ldap://x\""));
    assert_int_equal(n, 3);
    free(buf);
    /* without redaction every value is there */
    buf = dump_as(c, false, &n);
    assert_non_null(strstr(buf, "s3cr3t-A"));
    assert_non_null(strstr(buf, "s3cr3t-B"));
    assert_non_null(strstr(buf, "s3cr3t-C"));
    assert_int_equal(n, 0);
    free(buf);
    sg_config_free(c);
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    round_trip("{}");
    round_trip(sg_config_default_text());
    round_trip(
        "{\"listen\": [{\"address\": \"::\", \"port\": 22}], \"workers\": 3,"
        " \"limits\": {\"max_startups\": 4, \"idle_timeout\": 9},"
        " \"algorithms\": {\"ciphers\": \"aes128-cbc,aes256-ctr\", \"compression\": [\"zlib\"]},"
        " \"rekey\": {\"bytes\": 123456789012},"
        " \"banner\": \"b\\u00e9\\n\\\"q\\\"\", \"allowed_clients\": [\"10.*\"],"
        " \"log\": {\"format\": \"json\"},"
        " \"plugins\": [{\"name\": \"auth-file\", \"config\": {\"x\": {\"y\": [1.5, null, true]}}},"
        "   {\"name\": \"p\", \"path\": \"rel/p.so\"}],"
        " \"auth\": {\"methods\": \"publickey,password\", \"required\": [[\"publickey\", "
        "\"password\"]],"
        "   \"keyboard_interactive\": {\"prompts\": [{\"prompt\": \"OTP: \", \"echo\": true}]}},"
        " \"routes\": [{\"match\": {\"kind\": \"exec\"}, \"plugin\": \"p\"},"
        "   {\"match\": {\"kind\": \"exec\", \"command\": \"ls *\", \"source\": [\"10.1.2.3/8\","
        "\"fe80::1\"]}, \"plugin\": \"p\", \"config\": {\"argv\": [\"/bin/ls\"]}},"
        "   {\"match\": {\"kind\": \"subsystem\"}, \"plugin\": \"p\"},"
        "   {\"name\": \"s\", \"match\": {\"kind\": \"subsystem\", \"subsystem\": \"sftp\","
        "\"user\": \"u\", \"group\": \"g\"}, \"plugin\": \"auth-file\"}]}");
}

/* ---- files: the shipped config and the examples -------------------------- */

static void test_load_file_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg_test_config_XXXXXX", path[PATH_MAX];
    assert_non_null(mkdtemp(dir));

    assert_null(sg_config_load_file("/nonexistent/sshgate.json", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/sshgate.json: cannot open: No such file or directory");
    assert_null(sg_config_load_file(dir, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));

    snprintf(path, sizeof(path), "%s/bad.json", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\n  \"plugins\": [\n    {\"name\": \"x\", \"path\": \"sub/x.so\"}\n  ],\n"
          "  \"routes\": [{\"match\": {\"kind\": \"exec\"}, \"plugin\": \"y\"}]\n}\n",
          fp);
    fclose(fp);
    assert_null(sg_config_load_file(path, err, sizeof(err)));
    char want[PATH_MAX + 200];
    snprintf(want, sizeof(want),
             "%s:5:52: $.routes[0].plugin: unknown plugin 'y': not declared "
             "in $.plugins",
             path);
    assert_string_equal(err, want);

    /* base_dir is the config file's directory */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"plugins\": [{\"name\": \"x\", \"path\": \"sub/x.so\"}]}", fp);
    fclose(fp);
    struct sg_config *c = sg_config_load_file(path, err, sizeof(err));
    assert_non_null(c);
    char real[PATH_MAX];
    assert_non_null(realpath(dir, real));
    assert_string_equal(c->base_dir, real);
    snprintf(want, sizeof(want), "%s/sub/x.so", real);
    assert_string_equal(c->plugins[0].path, want);
    assert_string_equal(c->path, path);
    sg_config_free(c);
    unlink(path);
    rmdir(dir);
}

static void test_shipped_configs(void **state)
{
    (void)state;
    struct sg_config *c;
    char path[PATH_MAX];
    int n = 0;

    n_warnings = 0;

    /* the embedded default */
    c = sg_config_load_string(sg_config_default_text(), "<embedded>", err, sizeof(err));
    if (!c)
        fail_msg("embedded default: %s", err);
    assert_int_equal(c->n_listen, 1);
    assert_string_equal(c->listen[0].address, "127.0.0.1");
    assert_int_equal(c->listen[0].port, 2222);
    assert_non_null(sg_config_plugin(c, "auth-file"));
    assert_true(c->auth.chain.n >= 1);
    assert_true(c->n_routes >= 1);
    sg_config_free(c);

    snprintf(path, sizeof(path), "%s/conf/sshgate.json", SG_SOURCE_DIR);
    c = sg_config_load_file(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(n_warnings, 0);
    sg_config_free(c);

    snprintf(path, sizeof(path), "%s/conf/examples", SG_SOURCE_DIR);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char file[PATH_MAX + 256];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        c = sg_config_load_file(file, err, sizeof(err));
        if (!c)
            fail_msg("%s", err);
        sg_config_free(c);
        n++;
    }
    closedir(d);
    assert_true(n >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_max_startups),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_version_string),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_plugins),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_client_patterns),
        cmocka_unit_test(test_client_admission_v4_mapped),
        cmocka_unit_test(test_strlist_helpers),
        cmocka_unit_test(test_json_pos),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_dump_redacts_secrets),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_shipped_configs),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
