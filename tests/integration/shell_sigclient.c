/* shell_sigclient.c — a tiny libssh client for test_shell.py: the OpenSSH
 * client cannot send "signal" channel requests, this one can.
 *
 *   shell_sigclient PORT USER KEYFILE COMMAND SIGNAL
 *
 * Runs COMMAND (exec), waits until its stdout printed "ready", sends the
 * "signal" request SIGNAL (e.g. "TERM"), then prints what came back:
 * "exit-signal NAME core=0|1" or "exit-status N". Exit 0 when it got one of
 * them, 1 on errors. */
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char result[128];

static void exit_status_cb(ssh_session s, ssh_channel c, int status, void *u)
{
    (void)s;
    (void)c;
    (void)u;
    snprintf(result, sizeof(result), "exit-status %d", status);
}

static void exit_signal_cb(ssh_session s, ssh_channel c, const char *sig, int core, const char *msg,
                           const char *lang, void *u)
{
    (void)s;
    (void)c;
    (void)msg;
    (void)lang;
    (void)u;
    snprintf(result, sizeof(result), "exit-signal %s core=%d", sig, core ? 1 : 0);
}

int main(int argc, char **argv)
{
    int rc = 1;
    ssh_key key = NULL;
    ssh_channel ch = NULL;
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT USER KEYFILE COMMAND SIGNAL\n", argv[0]);
        return 2;
    }
    ssh_session s = ssh_new();
    int port = atoi(argv[1]);
    int strict = 0;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, argv[2]);
    ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &strict);
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &strict);
    if (ssh_connect(s) != SSH_OK) {
        fprintf(stderr, "connect: %s\n", ssh_get_error(s));
        goto out;
    }
    if (ssh_pki_import_privkey_file(argv[3], NULL, NULL, NULL, &key) != SSH_OK ||
        ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) {
        fprintf(stderr, "auth: %s\n", ssh_get_error(s));
        goto out;
    }
    ch = ssh_channel_new(s);
    struct ssh_channel_callbacks_struct cb = {
        .channel_exit_status_function = exit_status_cb,
        .channel_exit_signal_function = exit_signal_cb,
    };
    ssh_callbacks_init(&cb);
    ssh_set_channel_callbacks(ch, &cb);
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, argv[4]) != SSH_OK) {
        fprintf(stderr, "exec: %s\n", ssh_get_error(s));
        goto out;
    }
    char buf[4096], seen[8192] = "";
    size_t seen_len = 0;
    time_t end = time(NULL) + 20;
    bool sent = false;
    while (time(NULL) < end && !result[0]) {
        int n = ssh_channel_read_timeout(ch, buf, sizeof(buf) - 1, 0, 200);
        if (n == SSH_ERROR)
            break;
        if (n > 0 && seen_len + (size_t)n < sizeof(seen)) {
            memcpy(seen + seen_len, buf, (size_t)n);
            seen_len += (size_t)n;
            seen[seen_len] = '\0';
        }
        if (!sent && strstr(seen, "ready")) {
            if (ssh_channel_request_send_signal(ch, argv[5]) != SSH_OK) {
                fprintf(stderr, "signal: %s\n", ssh_get_error(s));
                goto out;
            }
            sent = true;
        }
        if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) {
            /* the exit message comes before EOF; give callbacks a moment */
            ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, 100);
            break;
        }
    }
    if (result[0]) {
        printf("%s\n", result);
        rc = 0;
    } else {
        fprintf(stderr, "no exit status (output: %s)\n", seen);
    }
out:
    if (ch) {
        ssh_channel_close(ch);
        ssh_channel_free(ch);
    }
    ssh_key_free(key);
    ssh_disconnect(s);
    ssh_free(s);
    return rc;
}
