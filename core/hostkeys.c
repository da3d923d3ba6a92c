/* hostkeys.c — generate missing host keys with libssh's key generator. */
#include "hostkeys.h"

#include <errno.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = 0;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int generate(const char *path, char *err, size_t errlen)
{
    enum ssh_keytypes_e type = SSH_KEYTYPE_ED25519;
    int bits = 0;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strstr(base, "ecdsa")) {
        type = SSH_KEYTYPE_ECDSA_P256;
        bits = 256;
    } else if (strstr(base, "rsa")) {
        type = SSH_KEYTYPE_RSA;
        bits = 3072;
    }
    ssh_key key = NULL;
    if (mkdirs(path) < 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    if (ssh_pki_generate(type, bits, &key) != SSH_OK) {
        snprintf(err, errlen, "cannot generate host key %s", path);
        return -1;
    }
    mode_t old = umask(077);
    int rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path);
    umask(old);
    if (rc != SSH_OK) {
        ssh_key_free(key);
        snprintf(err, errlen, "cannot write host key %s", path);
        return -1;
    }
    chmod(path, 0600);
    char pub[4096];
    snprintf(pub, sizeof(pub), "%s.pub", path);
    ssh_pki_export_pubkey_file(key, pub);
    ssh_key_free(key);
    SG_INFO(0, "generated host key %s (%s)", path, ssh_key_type_to_char(type));
    return 0;
}

int sg_hostkeys_ensure(const struct sg_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->host_keys.n; i++) {
        const char *p = cfg->host_keys.v[i];
        struct stat st;
        if (stat(p, &st) < 0) {
            if (errno != ENOENT) {
                snprintf(err, errlen, "host key %s: %s", p, strerror(errno));
                return -1;
            }
            if (generate(p, err, errlen) < 0)
                return -1;
            continue;
        }
        if (st.st_mode & 077)
            SG_INFO(0, "warning: host key %s is readable by others (mode %04o)", p,
                    (unsigned)(st.st_mode & 07777));
        ssh_key key = NULL;
        if (ssh_pki_import_privkey_file(p, NULL, NULL, NULL, &key) != SSH_OK) {
            snprintf(err, errlen, "host key %s cannot be read (not an unencrypted private key?)", p);
            return -1;
        }
        ssh_key_free(key);
    }
    if (cfg->host_keys.n == 0) {
        snprintf(err, errlen, "no host_keys configured");
        return -1;
    }
    return 0;
}
