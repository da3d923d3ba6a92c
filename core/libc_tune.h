/* libc_tune.h — start sshgated with glibc's memcpy tuned for bulk copies.
 *
 * glibc (2.36, x86-64) copies blocks from 2 KiB up with `rep movsb` on CPUs
 * that advertise fast string moves. On AMD Zen (measured on this project's
 * AMD EPYC machines) that instruction runs at ~3 GB/s instead of ~50 GB/s
 * whenever the destination lies 1..15 bytes past the source modulo 4 KiB:
 * a 15x slowdown that hits libssh's 32 KiB channel-data copies at random,
 * depending on where malloc put the buffers (in an SFTP upload two such
 * copies took 26 % of the worker). glibc's own vector copy has no such
 * case. The threshold can only be set through GLIBC_TUNABLES, which the
 * dynamic loader reads before main(), so sshgated re-executes itself once
 * with it set, then restores the environment it was started with. */
#ifndef SG_LIBC_TUNE_H
#define SG_LIBC_TUNE_H

#include <stddef.h>

/* The tunable sshgated adds. */
#define SG_TUNABLE_MOVSB "glibc.cpu.x86_rep_movsb_threshold=0x40000000"

/* Markers carried across the re-exec (removed again right after it). */
#define SG_TUNE_DONE_ENV "SSHGATE_LIBC_TUNED"
#define SG_TUNE_SAVED_ENV "SSHGATE_SAVED_GLIBC_TUNABLES"

/* The GLIBC_TUNABLES value to exec with, given the current one (NULL when
 * unset), written to out. Returns 1 when a re-exec is wanted, 0 when the
 * current value already sets the movsb threshold (the operator's choice
 * stands), -1 when out (size n) is too small. */
int sg_libc_tunables_for(const char *current, char *out, size_t n);

/* Call first thing in main(). On x86-64 glibc without the tunable: sets it
 * and re-executes /proc/self/exe with argv (same pid; on failure it goes on
 * untuned). After the re-exec: puts GLIBC_TUNABLES back as it was and
 * removes the markers, so children see the environment sshgated got.
 * Elsewhere: does nothing. */
void sg_libc_tune(char **argv);

#endif
