/* request.h — pending SG_AGAIN decisions and the handles plugins hold.
 *
 * A plugin that answers SG_AGAIN keeps ev->req and later calls
 * host->complete(req, ...). What it keeps is a handle (slot number and
 * generation), not the request's address: once the host stops waiting for a
 * request (completed, auth timeout, connection closed) the request is freed
 * and its handle no longer resolves. A late, repeated or stray complete()
 * is then ignored instead of touching freed memory, and the host never has
 * to keep a request alive for a plugin that may never answer. */
#ifndef SSHGATE_REQUEST_H
#define SSHGATE_REQUEST_H

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdint.h>

#include "plugin.h"

struct sg_conn;
struct sg_chan;
struct sg_plugin_ref;

enum sg_req_kind { SG_REQ_AUTH, SG_REQ_CHAN_OPEN, SG_REQ_CHAN_REQUEST, SG_REQ_TUNNEL };

struct sg_request {
    enum sg_req_kind kind;
    uintptr_t handle;         /* what the plugin holds (sg_request_handle) */
    struct sg_conn *conn;     /* the connection; on its list c->reqs */
    struct sg_chan *chan;     /* for channel kinds; NULL once closed */
    ssh_message msg;          /* the request to answer */
    struct sg_plugin_ref *plugin;
    struct sg_request *next, *prev;
    int tunnel_port;
    char *tunnel_address;
    bool tunnel_cancel;
    /* pending: the handler returned SG_AGAIN and the caller made r wait
     * (sg_request_asked). A complete() before that came from inside the
     * handler: held here (early) and applied by sg_request_asked. */
    bool pending, early;
    int early_result;
    struct sg_completion early_extra; /* available_methods owned (strdup) */
};

/* A new request of connection c (linked on c->reqs); NULL when out of memory. */
struct sg_request *sg_request_new(struct sg_conn *c, enum sg_req_kind kind, ssh_message msg,
                                  struct sg_plugin_ref *p);
/* Unlink and free r (and its message); its handle stops resolving. */
void sg_request_free(struct sg_request *r);
/* Free every request of c (the connection is closing). */
void sg_requests_free_conn(struct sg_conn *c);

/* The handle to put in an event's `req`. */
sg_request *sg_request_handle(const struct sg_request *r);
/* The live request behind a handle, or NULL (never issued, or freed). */
struct sg_request *sg_request_resolve(const sg_request *handle);

/* After a handler returned SG_AGAIN and the caller made r wait (message
 * kept, lane busy, timer armed): r is pending from now on, and a complete()
 * the handler already made is applied. Returns true when it did; r is then freed and the caller must not
 * touch it (nor anything the completion may have freed). */
bool sg_request_asked(struct sg_request *r);
/* host->complete: resolve, then finish the decision (or hold it, see above). */
void sg_request_complete(const sg_request *handle, int result, const struct sg_completion *extra);

#endif
