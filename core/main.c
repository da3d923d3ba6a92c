/* main.c — sshgated: the thin command-line front of libsshgate. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "libc_tune.h"
#include "log.h"
#include "master.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sshgated [-D] [-d]... [-f FILE]      run the gateway\n"
        "       sshgated -t [--show-secrets] [-f FILE]  validate and print the effective config\n"
        "       sshgated --status [-f FILE]         list live connections and channels\n"
        "       sshgated --version\n"
        "\n"
        "  -f FILE    config file (default: the embedded conf/sshgate.json)\n"
        "  -D         stay in the foreground (default: detach)\n"
        "  -d         debug logging (log.level 3); -d -d also logs libssh\n"
        "  -t         test the config: exit 0 if valid, 1 with file:line:col otherwise;\n"
        "             secrets in plugin and route configs print as \"<redacted>\"\n"
        "  --show-secrets  with -t: print them as they are (the dump then loads again)\n");
}

static int status(const struct sg_config *cfg)
{
    if (!cfg->control_socket || !*cfg->control_socket) {
        fprintf(stderr, "sshgated: no control_socket in the config\n");
        return 1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", cfg->control_socket);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        fprintf(stderr, "sshgated: cannot reach %s: %s (is sshgated running?)\n",
                cfg->control_socket, strerror(errno));
        return 1;
    }
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    sg_libc_tune(argv); /* may re-execute: first, before anything is opened */
    const char *path = NULL;
    bool foreground = false, test = false, want_status = false, show_secrets = false;
    int debug = 0;
    static const struct option opts[] = {{"version", no_argument, NULL, 'V'},
                                         {"status", no_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"show-secrets", no_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "f:Ddth", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            path = optarg;
            break;
        case 'D':
            foreground = true;
            break;
        case 'd':
            debug++;
            break;
        case 't':
            test = true;
            break;
        case 'S':
            want_status = true;
            break;
        case 's':
            show_secrets = true;
            break;
        case 'V':
            printf("sshgated %s (plugin ABI %d.%d)\n", SG_VERSION, SG_PLUGIN_ABI_MAJOR,
                   SG_PLUGIN_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    struct sg_config *cfg = sg_master_load(path, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "sshgated: %s\n", err);
        return 1;
    }
    if (debug) {
        cfg->log.level = 3;
        if (debug > 1)
            setenv("SSHGATE_LIBSSH_DEBUG", "1", 1);
    }
    if (test) {
        int rc = 0;
        if (sg_master_check_plugins(cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "sshgated: %s\n", err);
            rc = 1;
        }
        size_t hidden = 0;
        sg_config_dump(cfg, stdout, !show_secrets, &hidden);
        if (hidden)
            fprintf(stderr,
                    "sshgated: %zu secret%s shown as \"<redacted>\" (--show-secrets prints them)\n",
                    hidden, hidden == 1 ? "" : "s");
        sg_config_free(cfg);
        return rc;
    }
    if (want_status) {
        int rc = status(cfg);
        sg_config_free(cfg);
        return rc;
    }
    /* relative paths in the config (ours and the plugins') are relative to
     * the config file's directory */
    if (cfg->base_dir && *cfg->base_dir && chdir(cfg->base_dir) < 0) {
        fprintf(stderr, "sshgated: cannot enter %s: %s\n", cfg->base_dir, strerror(errno));
        return 1;
    }
    if (!foreground) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid > 0)
            return 0;
        setsid();
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, STDIN_FILENO);
            if (nul > 2)
                close(nul);
        }
    }
    return sg_master_run(path, cfg);
}
