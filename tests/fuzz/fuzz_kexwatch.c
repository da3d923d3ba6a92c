/* fuzz_kexwatch.c — libFuzzer target for the strict-kex watcher
 * (core/kexwatch.c), which reads untrusted client bytes before libssh does.
 *
 * Input: the first byte is a chunk size (1..256); the rest is the client's
 * stream. Checks: no crash or out-of-bounds access, and the verdict fed in
 * chunks equals the verdict fed whole. */
#include <stdint.h>
#include <stdlib.h>

#include "kexwatch.h"

static enum sg_kexwatch_result run(const uint8_t *p, size_t n, size_t step)
{
    struct sg_kexwatch w;
    sg_kexwatch_init(&w);
    enum sg_kexwatch_result r = SG_KEXWATCH_MORE;
    for (size_t i = 0; i < n && r == SG_KEXWATCH_MORE; i += step)
        r = sg_kexwatch_feed(&w, p + i, n - i < step ? n - i : step);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    if (run(data + 1, size - 1, size) != run(data + 1, size - 1, step))
        abort();
    return 0;
}
