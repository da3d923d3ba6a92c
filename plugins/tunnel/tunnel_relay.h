/* tunnel_relay.h — pump bytes between a TCP socket and an SSH channel.
 *
 * Backpressure both ways:
 *   socket → channel: read up to four full SSH packets' data (4 x 32,758
 *     bytes, into one buffer per worker),
 *     host->chan_send; on a short send the rest is kept (the relay's only
 *     socket-side memory) and the socket is not read again until
 *     on_channel_ready_to_send (tr_on_ready) drained it.
 *   channel → socket: gathered for the rest of the loop round (up to
 *     256 KiB) and written with one send(); what the socket does not take
 *     is buffered; at max_buffer the channel input is paused (the host
 *     stops opening the SSH window) and resumed below half of it.
 * Half-close: channel EOF → shutdown(SHUT_WR) once the buffer drained;
 *   socket EOF → chan_send_eof once pending data went out; both → chan_close.
 * The relay never frees itself while its channel is open: the owner calls
 * tr_release from on_channel_closed (or when the connection ends). Calls are reentrancy
 * safe: tr_free during a relay callback is deferred to its end.
 */
#ifndef SSHGATE_TUNNEL_RELAY_H
#define SSHGATE_TUNNEL_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

struct tr_relay;

struct tr_stats {
    uint64_t bytes_to_socket;  /* from the client */
    uint64_t bytes_to_channel; /* from the socket */
    const char *close_reason;  /* NULL: normal end (EOF both ways) or not closed */
    size_t buffered;           /* bytes waiting for the socket now */
};

/* Wrap connected non-blocking socket `fd` (taken over: closed by tr_free).
 * Nothing is read until tr_start. idle_timeout_s 0 = no idle timeout.
 * Returns NULL on allocation failure (fd then still belongs to the caller). */
struct tr_relay *tr_new(const struct sg_host *host, sg_chan *ch, int fd, size_t max_buffer,
                        unsigned idle_timeout_s);
/* The channel is open: start relaying. Returns 0 or an SG_E_* value. */
int tr_start(struct tr_relay *r);
void tr_on_data(struct tr_relay *r, const uint8_t *data, size_t len);
void tr_on_eof(struct tr_relay *r);
void tr_on_ready(struct tr_relay *r);
/* Close the socket and the channel (host->chan_close), e.g. on cancel. */
void tr_close(struct tr_relay *r, const char *reason);
void tr_get_stats(const struct tr_relay *r, struct tr_stats *out);
/* Release everything; never calls the host about the channel. */
void tr_free(struct tr_relay *r);
/* The channel closed: like tr_free, but bytes the client sent that the
 * socket has not taken yet are still written first (for at most 30 s),
 * then the socket is shut down and closed and the relay freed. Never calls
 * the host about the channel. */
void tr_release(struct tr_relay *r);
/* Plugin fini: free the relays still lingering after tr_release, and the
 * worker's socket read buffer. */
void tr_fini(void);

#endif
