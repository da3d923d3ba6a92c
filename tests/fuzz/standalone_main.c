/*
 * standalone_main.c — a tiny libFuzzer-compatible driver for the normal
 * (gcc) build, used by the `fuzz.<name>` smoke tests.
 *
 *   fuzz_x_smoke [-runs=N] [-seed=S] [-max_len=N] [-max_total_time=S] PATH...
 *
 * Every PATH (file, or directory: its regular files) is fed once to
 * LLVMFuzzerTestOneInput as is; then N deterministic pseudo-random
 * mutations of those inputs (bit flips, byte sets, interesting values,
 * inserts, deletes, duplication, splicing) are fed. Each input lives in its
 * own exact-size heap buffer so ASan catches overreads. Unknown -flags are
 * ignored (libFuzzer compatibility). Exit 0 when every input returned.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

struct input {
    uint8_t *data;
    size_t len;
};

static struct input *inputs;
static size_t n_inputs, cap_inputs;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static size_t max_len = 4096;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n) { return n == 0 ? 0 : (size_t)(rnd() % n); }

static void add_input(const uint8_t *data, size_t len)
{
    if (n_inputs == cap_inputs) {
        size_t nc = cap_inputs ? cap_inputs * 2 : 64;
        struct input *ni = realloc(inputs, nc * sizeof(*ni));
        if (ni == NULL) {
            perror("realloc");
            exit(2);
        }
        inputs = ni;
        cap_inputs = nc;
    }
    inputs[n_inputs].data = malloc(len ? len : 1);
    if (inputs[n_inputs].data == NULL) {
        perror("malloc");
        exit(2);
    }
    if (len)
        memcpy(inputs[n_inputs].data, data, len);
    inputs[n_inputs].len = len;
    n_inputs++;
}

static void run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size: overreads are caught */
    if (copy == NULL) {
        perror("malloc");
        exit(2);
    }
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (nb == NULL) {
                perror("realloc");
                exit(2);
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    add_input(buf, len);
    free(buf);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        perror(path);
        exit(2);
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*nn));
        if (nn == NULL) {
            perror("realloc");
            exit(2);
        }
        names = nn;
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(l);
        if (names[n] == NULL) {
            perror("malloc");
            exit(2);
        }
        snprintf(names[n], l, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names); /* deterministic order */
    for (size_t i = 0; i < n; i++) {
        struct stat fs;
        if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode))
            load_file(names[i]);
        free(names[i]);
    }
    free(names);
}

/* One mutation step on buf (len in/out, capacity max_len). */
static void mutate_once(uint8_t *buf, size_t *len)
{
    static const uint32_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
                                           0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
    size_t n = *len;
    switch (rnd_below(8)) {
    case 0: /* flip a bit */
        if (n)
            buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
        break;
    case 1: /* random byte */
        if (n)
            buf[rnd_below(n)] = (uint8_t)rnd();
        break;
    case 2: { /* interesting big-endian 32-bit value (SSH lengths) */
        if (n >= 4) {
            uint32_t v = interesting[rnd_below(sizeof(interesting) / sizeof(interesting[0]))];
            size_t at = rnd_below(n - 3);
            buf[at] = (uint8_t)(v >> 24);
            buf[at + 1] = (uint8_t)(v >> 16);
            buf[at + 2] = (uint8_t)(v >> 8);
            buf[at + 3] = (uint8_t)v;
        }
        break;
    }
    case 3: { /* insert random bytes */
        size_t k = 1 + rnd_below(8);
        if (n + k > max_len)
            break;
        size_t at = rnd_below(n + 1);
        memmove(buf + at + k, buf + at, n - at);
        for (size_t i = 0; i < k; i++)
            buf[at + i] = (uint8_t)rnd();
        *len = n + k;
        break;
    }
    case 4: { /* delete a range */
        if (n == 0)
            break;
        size_t at = rnd_below(n);
        size_t k = 1 + rnd_below(n - at < 16 ? n - at : 16);
        memmove(buf + at, buf + at + k, n - at - k);
        *len = n - k;
        break;
    }
    case 5: { /* duplicate a range */
        if (n == 0)
            break;
        size_t at = rnd_below(n);
        size_t k = 1 + rnd_below(n - at < 32 ? n - at : 32);
        if (n + k > max_len)
            break;
        size_t to = rnd_below(n + 1);
        uint8_t tmp[32];
        memcpy(tmp, buf + at, k);
        memmove(buf + to + k, buf + to, n - to);
        memcpy(buf + to, tmp, k);
        *len = n + k;
        break;
    }
    case 6: { /* splice: tail from another input */
        if (n_inputs == 0)
            break;
        const struct input *o = &inputs[rnd_below(n_inputs)];
        size_t at = rnd_below(n + 1);
        size_t from = rnd_below(o->len + 1);
        size_t k = o->len - from;
        if (at + k > max_len)
            k = max_len - at;
        memcpy(buf + at, o->data + from, k);
        *len = at + k;
        break;
    }
    default: /* truncate */
        if (n)
            *len = rnd_below(n);
        break;
    }
}

int main(int argc, char **argv)
{
    unsigned long runs = 2000, max_time = 0;
    unsigned long long seed = 1;
    size_t n_paths = 0;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0)
            runs = strtoul(argv[i] + 6, NULL, 10);
        else if (strncmp(argv[i], "-seed=", 6) == 0)
            seed = strtoull(argv[i] + 6, NULL, 10);
        else if (strncmp(argv[i], "-max_len=", 9) == 0)
            max_len = strtoul(argv[i] + 9, NULL, 10);
        else if (strncmp(argv[i], "-max_total_time=", 16) == 0)
            max_time = strtoul(argv[i] + 16, NULL, 10);
        else if (argv[i][0] == '-')
            continue; /* other libFuzzer flags */
        else {
            load_path(argv[i]);
            n_paths++;
        }
    }
    if (max_len == 0)
        max_len = 1;
    rng_state ^= seed * 0xbf58476d1ce4e5b9ULL;
    if (rng_state == 0)
        rng_state = 1;

    for (size_t i = 0; i < n_inputs; i++)
        run_one(inputs[i].data, inputs[i].len);
    run_one((const uint8_t *)"", 0);

    uint8_t *buf = malloc(max_len);
    if (buf == NULL) {
        perror("malloc");
        return 2;
    }
    time_t start = time(NULL);
    unsigned long done = 0;
    for (; done < runs; done++) {
        if (max_time && (done & 63) == 0 && (unsigned long)(time(NULL) - start) >= max_time)
            break;
        size_t len = 0;
        if (n_inputs) {
            const struct input *in = &inputs[rnd_below(n_inputs)];
            len = in->len < max_len ? in->len : max_len;
            memcpy(buf, in->data, len);
        }
        size_t steps = 1 + rnd_below(6);
        for (size_t s = 0; s < steps; s++)
            mutate_once(buf, &len);
        run_one(buf, len);
    }
    free(buf);
    for (size_t i = 0; i < n_inputs; i++)
        free(inputs[i].data);
    free(inputs);
    printf("standalone fuzz driver: %zu corpus inputs from %zu paths, %lu mutations, no crash\n",
           n_inputs, n_paths, done);
    return 0;
}
