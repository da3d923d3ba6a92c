/*
 * sshparam — the SSH param codec behind host->param_get, param_get_bytes and
 * param_set (GetSSHParam / GetSSHParamBytes / SetSSHParam of the reference).
 *
 * Payloads are the request-specific part only: what follows the want-reply
 * byte of SSH_MSG_CHANNEL_REQUEST / SSH_MSG_GLOBAL_REQUEST, or the
 * type-specific data of SSH_MSG_CHANNEL_OPEN after its three uint32s.
 *
 * Field types (RFC 4251 wire encodings):
 *   s   string          text: the bytes as sent (see "Embedded NUL" below)
 *   sb  string          text: upper-case hex of the bytes
 *   m   mpint           text: signed decimal ("-123"); at most
 *                       SG_PARAM_MPINT_MAX content bytes
 *   i   uint32          text: decimal
 *   l   uint64          text: decimal
 *   b   byte            text: decimal 0..255
 *   f   boolean         text: "True" (any non-zero byte) / "False"
 *
 * Field names: a well-known name of the request type (sg_param_field_name
 * lists them; matched case-insensitively), or a type list starting with '%'
 * ("%s,i,f"): the fields are read in order and the last one is returned.
 * The packet-level names ChannelId, RequestType and WantsReply are not part
 * of the payload and give SG_E_NOTFOUND.
 *
 * Bytes form (param_get_bytes): strings and mpints without their length
 * prefix (mpint: its two's-complement content), integers big-endian in
 * their wire width (i 4, l 8, b 1), f the raw byte as sent.
 *
 * Embedded NUL: an "s" value is returned as sent, NUL bytes included; the
 * return value is the full length, so C-string readers see a prefix only.
 * Use the return value (or param_get_bytes) when that matters.
 *
 * Results: length written (text: without the terminating NUL), or
 *   SG_E_INVAL     bad argument, malformed or truncated payload (a declared
 *                  length beyond the payload), bad type list or value
 *   SG_E_NOTFOUND  unknown request type / field name
 *   SG_E_LIMIT     the output does not fit out_size / cap, or an mpint is
 *                  longer than SG_PARAM_MPINT_MAX
 *   SG_E_NOMEM     allocation failure (mpint conversion)
 *
 * Values for sg_param_set: s any text; sb hex digits (even count, either
 * case); m/i/l/b decimal or "0x" hex (m may be negative: "-5", "-0x1F");
 * f "True"/"False" (any case) or "1"/"0". On error nothing is appended.
 */
#ifndef SSHGATE_SSHPARAM_H
#define SSHGATE_SSHPARAM_H

#include <stddef.h>
#include <stdint.h>

#define SG_PARAM_MPINT_MAX 2048 /* bytes (16384 bits) */

long sg_param_get(const uint8_t *payload, size_t len, const char *request_type,
                  const char *field, char *out, size_t out_size);
long sg_param_get_bytes(const uint8_t *payload, size_t len, const char *request_type,
                        const char *field, uint8_t *out, size_t out_size);
long sg_param_set(uint8_t *buf, size_t *len, size_t cap, const char *type, const char *value);

/* Introspection (docs, tests, fuzzing). The idx-th well-known request type,
 * or NULL past the end. */
const char *sg_param_request_type(size_t idx);
/* The idx-th well-known field of request_type, with its type letter(s) in
 * *type (may be NULL); NULL past the end or for an unknown type. */
const char *sg_param_field_name(const char *request_type, size_t idx, const char **type);

#endif /* SSHGATE_SSHPARAM_H */
