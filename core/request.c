/* request.c — pending SG_AGAIN decisions and their handles (see request.h). */
#include "request.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "channel.h"
#include "log.h"
#include "session.h"

/* A handle is (generation << SLOT_BITS) | (slot + 1): never 0 (NULL), and a
 * slot reused for a new request gets a new generation, so an old handle
 * cannot reach the new request. The table is per worker process and only
 * touched on the loop thread (complete() must be called there). */
#define SLOT_BITS 24
#define SLOT_MASK (((uintptr_t)1 << SLOT_BITS) - 1)
#define MAX_SLOTS ((uint32_t)SLOT_MASK - 1)
#define NO_SLOT UINT32_MAX

struct slot {
    struct sg_request *r; /* NULL: free */
    uintptr_t gen;
    uint32_t next_free;
};

static struct slot *g_slots;
static uint32_t g_used, g_cap, g_free = NO_SLOT;

static bool slot_take(struct sg_request *r)
{
    uint32_t i = g_free;
    if (i != NO_SLOT) {
        g_free = g_slots[i].next_free;
    } else {
        if (g_used == g_cap) {
            uint32_t cap = g_cap ? g_cap * 2 : 64;
            if (g_cap >= MAX_SLOTS)
                return false;
            if (cap > MAX_SLOTS)
                cap = MAX_SLOTS;
            struct slot *n = realloc(g_slots, cap * sizeof(*n));
            if (!n)
                return false;
            g_slots = n;
            g_cap = cap;
        }
        i = g_used++;
        g_slots[i].gen = 1;
    }
    g_slots[i].r = r;
    g_slots[i].next_free = NO_SLOT;
    r->handle = (g_slots[i].gen << SLOT_BITS) | ((uintptr_t)i + 1);
    return true;
}

static void slot_release(struct sg_request *r)
{
    uint32_t i = (uint32_t)(r->handle & SLOT_MASK) - 1;
    g_slots[i].r = NULL;
    g_slots[i].gen++;
    g_slots[i].next_free = g_free;
    g_free = i;
}

struct sg_request *sg_request_resolve(const sg_request *handle)
{
    uintptr_t h = (uintptr_t)handle;
    uintptr_t i = h & SLOT_MASK;
    if (i == 0 || i > g_used)
        return NULL;
    struct sg_request *r = g_slots[i - 1].r;
    return r && r->handle == h ? r : NULL;
}

sg_request *sg_request_handle(const struct sg_request *r)
{
    return (sg_request *)r->handle;
}

struct sg_request *sg_request_new(struct sg_conn *c, enum sg_req_kind kind, ssh_message msg,
                                  struct sg_plugin_ref *p)
{
    struct sg_request *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (!slot_take(r)) {
        free(r);
        return NULL;
    }
    r->kind = kind;
    r->conn = c;
    r->msg = msg;
    r->plugin = p;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    return r;
}

void sg_request_free(struct sg_request *r)
{
    if (!r)
        return;
    if (r->conn) {
        if (r->prev)
            r->prev->next = r->next;
        else
            r->conn->reqs = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    slot_release(r);
    if (r->msg)
        ssh_message_free(r->msg);
    free(r->tunnel_address);
    free((char *)r->early_extra.available_methods);
    free(r);
}

void sg_requests_free_conn(struct sg_conn *c)
{
    while (c->reqs)
        sg_request_free(c->reqs);
}

static void finish(struct sg_request *r, int result, const struct sg_completion *extra)
{
    if (r->kind == SG_REQ_AUTH) {
        bool partial = extra && SG_HAS_FIELD(extra, partial_success) && extra->partial_success;
        const char *avail =
            extra && SG_HAS_FIELD(extra, available_methods) ? extra->available_methods : NULL;
        sg_auth_complete(r, result, partial, avail);
    } else {
        sg_channel_complete(r, result, extra);
    }
}

/* complete() from inside the handler: keep a copy of the answer. */
static void hold_early(struct sg_request *r, int result, const struct sg_completion *extra)
{
    r->early = true;
    r->early_result = result;
    r->early_extra.size = sizeof(r->early_extra);
    if (!extra)
        return;
    if (SG_HAS_FIELD(extra, partial_success))
        r->early_extra.partial_success = extra->partial_success;
    if (SG_HAS_FIELD(extra, available_methods) && extra->available_methods)
        r->early_extra.available_methods = strdup(extra->available_methods);
    if (SG_HAS_FIELD(extra, port))
        r->early_extra.port = extra->port;
    if (SG_HAS_FIELD(extra, deny_reason))
        r->early_extra.deny_reason = extra->deny_reason;
}

void sg_request_complete(const sg_request *handle, int result, const struct sg_completion *extra)
{
    struct sg_request *r = sg_request_resolve(handle);
    if (!r) {
        SG_DBG(0, "complete() for a request that is no longer pending (answered, timed out "
                  "or its connection ended): ignored");
        return;
    }
    if (r->early) {
        SG_INFO(r->conn ? r->conn->id : 0, "plugin %s completed a request twice: the second "
                "answer is ignored", r->plugin ? r->plugin->name : "?");
        return;
    }
    if (!r->pending) { /* from inside the handler: applied when it returned SG_AGAIN */
        hold_early(r, result, extra);
        return;
    }
    finish(r, result, extra);
}

bool sg_request_asked(struct sg_request *r)
{
    r->pending = true;
    if (!r->early)
        return false;
    struct sg_completion extra = r->early_extra;
    r->early_extra.available_methods = NULL; /* finish() may free r; keep the string */
    finish(r, r->early_result, &extra);
    free((char *)extra.available_methods);
    return true;
}
