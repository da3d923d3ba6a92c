/* userdb.c — load users_file (JSON) and passwd_file into a sorted table. */
#include "userdb.h"

#include "pwverify.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define UDB_MAX_FILE (16u << 20) /* 16 MiB: refuse larger user files */

struct udb_builder {
    struct udb_user *users;
    size_t n, cap;
};

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

bool udb_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > UDB_MAX_NAME || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == ':')
            return false;
    }
    return true;
}

/* Group names and attribute names: printable, no ',' or ':' (the passwd
 * separators), 1..256 bytes. */
static bool token_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > UDB_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ',' || c == ':')
            return false;
    }
    return true;
}

static void user_clear(struct udb_user *u)
{
    free(u->name);
    free(u->password);
    for (size_t i = 0; i < u->n_keys; i++)
        ak_key_clear(&u->keys[i]);
    free(u->keys);
    for (size_t i = 0; i < u->n_groups; i++)
        free(u->groups[i]);
    free(u->groups);
    for (size_t i = 0; i < u->n_attrs; i++) {
        free(u->attrs[i].name);
        free(u->attrs[i].value);
    }
    free(u->attrs);
    memset(u, 0, sizeof *u);
}

void udb_free(struct udb *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n; i++)
        user_clear(&db->users[i]);
    free(db->users);
    free(db);
}

/* By name; for equal names the users_file entry (src_line 0) first, then
 * passwd lines in file order. */
static int cmp_user(const void *a, const void *b)
{
    const struct udb_user *ua = a, *ub = b;
    int c = strcmp(ua->name, ub->name);
    if (c)
        return c;
    return ua->src_line < ub->src_line ? -1 : ua->src_line > ub->src_line;
}

/* Drop duplicates after sorting: a passwd line shadowed by a users_file
 * entry is ignored with a warning; a name twice in the passwd_file is an
 * error. */
static int dedupe(struct udb_builder *b, const char *passwd_file, udb_warn_fn warn, void *warn_arg,
                  char *err, size_t errlen)
{
    size_t w = 0;
    for (size_t r = 0; r < b->n; r++) {
        struct udb_user *u = &b->users[r];
        if (w > 0 && strcmp(b->users[w - 1].name, u->name) == 0) {
            struct udb_user *keep = &b->users[w - 1];
            if (keep->src_line != 0) {
                fmt_err(err, errlen, "%s:%u: user %s listed twice (first on line %u)", passwd_file,
                        u->src_line, u->name, keep->src_line);
                /* [0,w) are kept entries, [r,n) untouched ones; [w,r) were
                 * moved or cleared already */
                for (size_t i = 0; i < w; i++)
                    user_clear(&b->users[i]);
                for (size_t i = r; i < b->n; i++)
                    user_clear(&b->users[i]);
                b->n = 0;
                return -1;
            }
            char msg[400];
            snprintf(msg, sizeof msg, "%s:%u: user %s is also in the users_file: line ignored",
                     passwd_file, u->src_line, u->name);
            if (warn)
                warn(warn_arg, msg);
            user_clear(u);
            continue;
        }
        if (w != r)
            b->users[w] = *u;
        w++;
    }
    b->n = w;
    return 0;
}

static int cmp_key_user(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct udb_user *)elem)->name);
}

const struct udb_user *udb_find(const struct udb *db, const char *name)
{
    if (!db || !name || db->n == 0)
        return NULL;
    return bsearch(name, db->users, db->n, sizeof db->users[0], cmp_key_user);
}

static struct udb_user *builder_add(struct udb_builder *b)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        struct udb_user *nu = realloc(b->users, ncap * sizeof *nu);
        if (!nu)
            return NULL;
        b->users = nu;
        b->cap = ncap;
    }
    struct udb_user *u = &b->users[b->n++];
    memset(u, 0, sizeof *u);
    return u;
}

static int add_group(struct udb_user *u, const char *g)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], g) == 0)
            return 0; /* duplicate: once is enough */
    char **ng = realloc(u->groups, (u->n_groups + 1) * sizeof *ng);
    if (!ng)
        return -1;
    u->groups = ng;
    if (!(u->groups[u->n_groups] = strdup(g)))
        return -1;
    u->n_groups++;
    return 0;
}

/* ---- users_file (JSON) ---------------------------------------------------- */

struct jctx {
    const char *file;
    const char *user;
    char *err;
    size_t errlen;
};

#define JERR(c, ...)                                                                               \
    do {                                                                                           \
        char msg_[300];                                                                            \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                  \
        fmt_err((c)->err, (c)->errlen, "%s: $.users.%s%s", (c)->file, (c)->user, msg_);            \
    } while (0)

typedef int (*jfield_fn)(struct jctx *c, struct udb_user *u, json_t *v);

static int jf_password(struct jctx *c, struct udb_user *u, json_t *v)
{
    if (!json_is_string(v)) {
        JERR(c, ".password: must be a string (a crypt(3) hash)");
        return -1;
    }
    const char *h = json_string_value(v);
    if (strlen(h) != json_string_length(v) || pw_hash_classify(h) == PW_HASH_INVALID) {
        JERR(c, ".password: not a supported crypt hash ($y$, $6$, $5$, $2b$, ...; "
                "\"!\"/\"*\" to lock)");
        return -1;
    }
    return (u->password = strdup(h)) ? 0 : -1;
}

static int jf_keys(struct jctx *c, struct udb_user *u, json_t *v)
{
    if (!json_is_array(v)) {
        JERR(c, ".keys: must be an array of authorized_keys lines");
        return -1;
    }
    size_t n = json_array_size(v);
    if (n == 0)
        return 0;
    u->keys = calloc(n, sizeof *u->keys);
    if (!u->keys)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(v, i);
        char why[160];
        if (!json_is_string(k)) {
            JERR(c, ".keys[%zu]: must be a string", i);
            return -1;
        }
        int rc = ak_parse_line_ex(json_string_value(k), json_string_length(k), AK_ALLOW_CA,
                                  &u->keys[u->n_keys], why, sizeof why);
        if (rc == AK_SKIP) {
            JERR(c, ".keys[%zu]: empty key", i);
            return -1;
        }
        if (rc != AK_OK) {
            JERR(c, ".keys[%zu]: %s", i, why);
            return -1;
        }
        u->n_keys++;
    }
    return 0;
}

static int jf_groups(struct jctx *c, struct udb_user *u, json_t *v)
{
    if (!json_is_array(v)) {
        JERR(c, ".groups: must be an array of strings");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *g = json_array_get(v, i);
        if (!json_is_string(g) || strlen(json_string_value(g)) != json_string_length(g) ||
            !token_valid(json_string_value(g))) {
            JERR(c, ".groups[%zu]: must be a non-empty name without ',' ':' or control bytes", i);
            return -1;
        }
        if (add_group(u, json_string_value(g)) != 0)
            return -1;
    }
    return 0;
}

static int jf_attributes(struct jctx *c, struct udb_user *u, json_t *v)
{
    if (!json_is_object(v)) {
        JERR(c, ".attributes: must be an object of strings");
        return -1;
    }
    size_t n = json_object_size(v);
    if (n == 0)
        return 0;
    u->attrs = calloc(n, sizeof *u->attrs);
    if (!u->attrs)
        return -1;
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val)
    {
        if (!token_valid(k)) {
            JERR(c, ".attributes: bad attribute name \"%.60s\"", k);
            return -1;
        }
        if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val)) {
            JERR(c, ".attributes.%s: must be a string", k);
            return -1;
        }
        struct udb_attr *a = &u->attrs[u->n_attrs];
        a->name = strdup(k);
        a->value = strdup(json_string_value(val));
        u->n_attrs++;
        if (!a->name || !a->value)
            return -1;
    }
    return 0;
}

static int jf_disabled(struct jctx *c, struct udb_user *u, json_t *v)
{
    if (!json_is_boolean(v)) {
        JERR(c, ".disabled: must be true or false");
        return -1;
    }
    u->disabled = json_is_true(v);
    return 0;
}

static const struct {
    const char *name;
    jfield_fn fn;
} udb_user_fields[] = {
    {"password", jf_password},     {"keys", jf_keys},         {"groups", jf_groups},
    {"attributes", jf_attributes}, {"disabled", jf_disabled},
};

static int load_json_user(struct jctx *c, struct udb_user *u, json_t *obj)
{
    if (!json_is_object(obj)) {
        JERR(c, ": must be an object");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof udb_user_fields / sizeof udb_user_fields[0]; i++)
            if (strcmp(udb_user_fields[i].name, k) == 0)
                break;
        if (i == sizeof udb_user_fields / sizeof udb_user_fields[0]) {
            JERR(c,
                 ": unknown field \"%.60s\" (known: password, keys, groups, attributes, "
                 "disabled)",
                 k);
            return -1;
        }
        if (udb_user_fields[i].fn(c, u, v) != 0) {
            if (c->err && c->err[0] == '\0')
                JERR(c, ".%s: out of memory", k);
            return -1;
        }
    }
    return 0;
}

static int load_users_json(const char *path, struct udb_builder *b, char *err, size_t errlen)
{
    int rc = -1;
    json_error_t jerr;
    json_t *root = NULL;
    struct stat st;

    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* missing users_file: no users */
        fmt_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > UDB_MAX_FILE) {
        fmt_err(err, errlen, "%s: not a regular file of at most %u bytes", path, UDB_MAX_FILE);
        return -1;
    }
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fmt_err(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        fmt_err(err, errlen, "%s: $: must be an object {\"users\": {...}}", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "users") != 0) {
            fmt_err(err, errlen, "%s: $: unknown key \"%.60s\" (expected \"users\")", path, k);
            goto out;
        }
    }
    json_t *users = json_object_get(root, "users");
    if (!users) {
        rc = 0;
        goto out;
    }
    if (!json_is_object(users)) {
        fmt_err(err, errlen, "%s: $.users: must be an object of user entries", path);
        goto out;
    }
    json_object_foreach(users, k, v)
    {
        struct jctx c = {path, k, err, errlen};
        if (err && errlen)
            err[0] = '\0';
        if (!udb_name_valid(k)) {
            fmt_err(err, errlen, "%s: $.users: bad user name \"%.60s\"", path, k);
            goto out;
        }
        struct udb_user *u = builder_add(b);
        if (!u || !(u->name = strdup(k))) {
            fmt_err(err, errlen, "%s: out of memory", path);
            goto out;
        }
        if (load_json_user(&c, u, v) != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- passwd_file ---------------------------------------------------------- */

static int passwd_line(const char *path, unsigned lineno, char *line, struct udb_builder *b,
                       char *err, size_t errlen)
{
    char *f[4] = {NULL, NULL, NULL, NULL};
    int nf = 0;
    char *p = line;
    f[nf++] = p;
    while ((p = strchr(p, ':')) != NULL) {
        *p++ = '\0';
        if (nf == 3) {
            fmt_err(err, errlen, "%s:%u: too many fields (expected user:hash[:groups])", path,
                    lineno);
            return -1;
        }
        f[nf++] = p;
    }
    if (nf < 2) {
        fmt_err(err, errlen, "%s:%u: expected user:hash[:groups]", path, lineno);
        return -1;
    }
    if (!udb_name_valid(f[0])) {
        fmt_err(err, errlen, "%s:%u: bad user name \"%.60s\"", path, lineno, f[0]);
        return -1;
    }
    if (pw_hash_classify(f[1]) == PW_HASH_INVALID) {
        fmt_err(err, errlen, "%s:%u: user %s: not a supported crypt hash", path, lineno, f[0]);
        return -1;
    }
    struct udb_user *u = builder_add(b);
    if (!u || !(u->name = strdup(f[0])) || !(u->password = strdup(f[1]))) {
        fmt_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    u->src_line = lineno;
    if (nf == 3) {
        char *save = NULL;
        for (char *g = strtok_r(f[2], ",", &save); g; g = strtok_r(NULL, ",", &save)) {
            if (!token_valid(g)) {
                fmt_err(err, errlen, "%s:%u: bad group name", path, lineno);
                return -1;
            }
            if (add_group(u, g) != 0) {
                fmt_err(err, errlen, "%s: out of memory", path);
                return -1;
            }
        }
    }
    return 0;
}

static int load_passwd(const char *path, struct udb_builder *b, char *err, size_t errlen)
{
    int rc = -1;
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    FILE *f = fopen(path, "re");

    if (!f) {
        if (errno == ENOENT)
            return 0;
        fmt_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (memchr(line, '\0', len)) {
            fmt_err(err, errlen, "%s:%u: NUL byte in line", path, lineno);
            goto out;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        if (passwd_line(path, lineno, s, b, err, errlen) != 0)
            goto out;
    }
    if (ferror(f)) {
        fmt_err(err, errlen, "%s: read error", path);
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

int udb_load(const char *users_file, const char *passwd_file, udb_warn_fn warn, void *warn_arg,
             struct udb **out, char *err, size_t errlen)
{
    struct udb_builder b = {0};
    struct udb *db = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (users_file && load_users_json(users_file, &b, err, errlen) != 0)
        goto fail;
    if (passwd_file && load_passwd(passwd_file, &b, err, errlen) != 0)
        goto fail;
    if (b.n)
        qsort(b.users, b.n, sizeof b.users[0], cmp_user);
    if (dedupe(&b, passwd_file, warn, warn_arg, err, errlen) != 0)
        goto fail;
    db = calloc(1, sizeof *db);
    if (!db) {
        fmt_err(err, errlen, "out of memory");
        goto fail;
    }
    db->users = b.users;
    db->n = b.n;
    *out = db;
    return 0;
fail:
    for (size_t i = 0; i < b.n; i++)
        user_clear(&b.users[i]);
    free(b.users);
    return -1;
}

int udb_stamp_get(const char *path, struct udb_stamp *out)
{
    struct stat st;
    memset(out, 0, sizeof *out);
    if (!path)
        return 0;
    if (stat(path, &st) != 0)
        return (errno == ENOENT || errno == ENOTDIR) ? 0 : -1;
    out->exists = true;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->size = st.st_size;
    out->mtime = st.st_mtim;
    return 0;
}

bool udb_stamp_equal(const struct udb_stamp *a, const struct udb_stamp *b)
{
    if (a->exists != b->exists)
        return false;
    if (!a->exists)
        return true;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}
