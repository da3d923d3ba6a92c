/*
 * SFTP v3 wire codec: packet framing, length-checked readers, growable
 * writer, file attributes, ls-style long names.
 *
 * Pure code: no host calls, no file-system access, so it can be unit tested
 * and fuzzed on its own. Every read checks the remaining length; a failed
 * read leaves the reader in an error state and returns -1.
 */
#ifndef SSHGATE_SFTP_CODEC_H
#define SSHGATE_SFTP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/* Largest packet body (the 4-byte length field value) we accept. */
#define SFTP_MAX_PACKET (256u * 1024u)
/* Longest path or name string accepted from a client. */
#define SFTP_MAX_PATH 4096u

/* Packet types (draft-ietf-secsh-filexfer-02, SFTP version 3). */
enum sftp_type {
    SSH_FXP_INIT = 1,
    SSH_FXP_VERSION = 2,
    SSH_FXP_OPEN = 3,
    SSH_FXP_CLOSE = 4,
    SSH_FXP_READ = 5,
    SSH_FXP_WRITE = 6,
    SSH_FXP_LSTAT = 7,
    SSH_FXP_FSTAT = 8,
    SSH_FXP_SETSTAT = 9,
    SSH_FXP_FSETSTAT = 10,
    SSH_FXP_OPENDIR = 11,
    SSH_FXP_READDIR = 12,
    SSH_FXP_REMOVE = 13,
    SSH_FXP_MKDIR = 14,
    SSH_FXP_RMDIR = 15,
    SSH_FXP_REALPATH = 16,
    SSH_FXP_STAT = 17,
    SSH_FXP_RENAME = 18,
    SSH_FXP_READLINK = 19,
    SSH_FXP_SYMLINK = 20,
    SSH_FXP_STATUS = 101,
    SSH_FXP_HANDLE = 102,
    SSH_FXP_DATA = 103,
    SSH_FXP_NAME = 104,
    SSH_FXP_ATTRS = 105,
    SSH_FXP_EXTENDED = 200,
    SSH_FXP_EXTENDED_REPLY = 201,
};

enum sftp_status {
    SSH_FX_OK = 0,
    SSH_FX_EOF = 1,
    SSH_FX_NO_SUCH_FILE = 2,
    SSH_FX_PERMISSION_DENIED = 3,
    SSH_FX_FAILURE = 4,
    SSH_FX_BAD_MESSAGE = 5,
    SSH_FX_NO_CONNECTION = 6,
    SSH_FX_CONNECTION_LOST = 7,
    SSH_FX_OP_UNSUPPORTED = 8,
};

/* OPEN pflags */
#define SSH_FXF_READ 0x01u
#define SSH_FXF_WRITE 0x02u
#define SSH_FXF_APPEND 0x04u
#define SSH_FXF_CREAT 0x08u
#define SSH_FXF_TRUNC 0x10u
#define SSH_FXF_EXCL 0x20u

/* attribute flags */
#define SSH_FILEXFER_ATTR_SIZE 0x00000001u
#define SSH_FILEXFER_ATTR_UIDGID 0x00000002u
#define SSH_FILEXFER_ATTR_PERMISSIONS 0x00000004u
#define SSH_FILEXFER_ATTR_ACMODTIME 0x00000008u
#define SSH_FILEXFER_ATTR_EXTENDED 0x80000000u

struct sftp_attrs {
    uint32_t flags;
    uint64_t size;
    uint32_t uid, gid;
    uint32_t perm;
    uint32_t atime, mtime;
};

/* ---- framing ------------------------------------------------------------ */
/* Look at `avail` buffered bytes. Returns 1 and sets *body_len when a whole
 * packet (4-byte length + body) is there, 0 when more bytes are needed, -1
 * when the length field is 0 or larger than SFTP_MAX_PACKET. */
int sftp_frame_peek(const uint8_t *buf, size_t avail, uint32_t *body_len);

/* ---- reader ------------------------------------------------------------- */
struct sftp_rbuf {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool err;
};

void sftp_rbuf_init(struct sftp_rbuf *rb, const uint8_t *p, size_t len);
size_t sftp_rbuf_left(const struct sftp_rbuf *rb);
int sftp_get_u8(struct sftp_rbuf *rb, uint8_t *v);
int sftp_get_u32(struct sftp_rbuf *rb, uint32_t *v);
int sftp_get_u64(struct sftp_rbuf *rb, uint64_t *v);
/* A length-prefixed string; *s points into the buffer (not NUL-terminated). */
int sftp_get_string(struct sftp_rbuf *rb, const uint8_t **s, uint32_t *len);
/* A file name or path: a string of at most SFTP_MAX_PATH bytes without NUL,
 * copied NUL-terminated into out (cap >= SFTP_MAX_PATH + 1). */
int sftp_get_name(struct sftp_rbuf *rb, char *out, size_t cap);
/* Attributes (extended pairs are length-checked and skipped). */
int sftp_get_attrs(struct sftp_rbuf *rb, struct sftp_attrs *a);
/* A string holding a packed list of uint32 (users-groups-by-id@openssh.com):
 * its length must be a multiple of 4. *list is set up to read the values
 * (sftp_get_u32) and *count receives their number. */
int sftp_get_u32_list(struct sftp_rbuf *rb, struct sftp_rbuf *list, uint32_t *count);

/* copy-data request fields (after the extension name). The handles point
 * into the packet. */
struct sftp_copy_req {
    const uint8_t *read_handle;
    uint32_t read_handle_len;
    uint64_t read_offset;
    uint64_t length; /* 0: until end of file */
    const uint8_t *write_handle;
    uint32_t write_handle_len;
    uint64_t write_offset;
};
int sftp_get_copy_req(struct sftp_rbuf *rb, struct sftp_copy_req *r);

/* ---- writer ------------------------------------------------------------- */
struct sftp_wbuf {
    uint8_t *p;
    size_t len;  /* bytes written */
    size_t head; /* bytes already consumed from the front (output queue) */
    size_t cap;
    bool oom; /* an allocation failed: the contents are incomplete */
};

void sftp_wbuf_init(struct sftp_wbuf *w);
void sftp_wbuf_free(struct sftp_wbuf *w);
/* Make room for n more bytes (existing bytes keep their offsets: a packet
 * being built stays valid); returns a pointer to them or NULL (sets oom). */
uint8_t *sftp_wbuf_reserve(struct sftp_wbuf *w, size_t n);
/* Bytes written but not consumed. */
size_t sftp_wbuf_pending(const struct sftp_wbuf *w);
/* Drop n consumed bytes from the front; compacts when it pays. */
void sftp_wbuf_consume(struct sftp_wbuf *w, size_t n);
void sftp_put_u8(struct sftp_wbuf *w, uint8_t v);
void sftp_put_u32(struct sftp_wbuf *w, uint32_t v);
void sftp_put_u64(struct sftp_wbuf *w, uint64_t v);
void sftp_put_string(struct sftp_wbuf *w, const void *s, size_t len);
void sftp_put_cstr(struct sftp_wbuf *w, const char *s);
void sftp_put_attrs(struct sftp_wbuf *w, const struct sftp_attrs *a);
/* Start a packet: writes a length placeholder, type and (unless type is
 * SSH_FXP_VERSION) the request id. Returns the offset to pass to
 * sftp_packet_end, which fills in the length. */
size_t sftp_packet_begin(struct sftp_wbuf *w, uint8_t type, uint32_t id);
void sftp_packet_end(struct sftp_wbuf *w, size_t start);
/* Drop a packet begun at `start` (e.g. when building it failed). */
void sftp_packet_abort(struct sftp_wbuf *w, size_t start);

/* ---- helpers ------------------------------------------------------------ */
void sftp_attrs_from_stat(struct sftp_attrs *a, const struct stat *st);
/* "drwxr-xr-x" style mode string (10 chars + NUL). */
void sftp_mode_string(uint32_t mode, char out[11]);
/* ls -l style long name: "-rw-r--r--    1 owner    group        1234 Jan  1 12:00 name".
 * Returns the length written (truncated to cap-1). */
size_t sftp_format_longname(char *out, size_t cap, const char *name, const struct stat *st,
                            const char *owner, const char *group, time_t now);
const char *sftp_type_name(uint8_t type);

#endif
