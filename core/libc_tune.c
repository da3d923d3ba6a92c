/* libc_tune.c — re-execute sshgated once with glibc's rep-movsb threshold
 * raised; see libc_tune.h for why. */
#include "libc_tune.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sg_libc_tunables_for(const char *current, char *out, size_t n)
{
    if (current && strstr(current, "x86_rep_movsb_threshold"))
        return 0;
    int w = current && *current ? snprintf(out, n, "%s:%s", current, SG_TUNABLE_MOVSB)
                                : snprintf(out, n, "%s", SG_TUNABLE_MOVSB);
    return w < 0 || (size_t)w >= n ? -1 : 1;
}

#if defined(__x86_64__) && defined(__GLIBC__)
static void restore(void)
{
    const char *saved = getenv(SG_TUNE_SAVED_ENV);
    if (saved)
        setenv("GLIBC_TUNABLES", saved, 1);
    else
        unsetenv("GLIBC_TUNABLES");
    unsetenv(SG_TUNE_SAVED_ENV);
    unsetenv(SG_TUNE_DONE_ENV);
}

void sg_libc_tune(char **argv)
{
    if (getenv(SG_TUNE_DONE_ENV)) { /* this is the re-executed image */
        restore();
        return;
    }
    const char *cur = getenv("GLIBC_TUNABLES");
    char want[4096];
    if (sg_libc_tunables_for(cur, want, sizeof(want)) != 1)
        return;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0 || (size_t)len >= sizeof(exe) - 1)
        return;
    exe[len] = '\0';
    if (cur && setenv(SG_TUNE_SAVED_ENV, cur, 1) != 0)
        return;
    if (setenv("GLIBC_TUNABLES", want, 1) != 0 || setenv(SG_TUNE_DONE_ENV, "1", 1) != 0) {
        restore();
        return;
    }
    execv(exe, argv);
    restore(); /* exec failed: run untuned */
}
#else
void sg_libc_tune(char **argv)
{
    (void)argv;
}
#endif
