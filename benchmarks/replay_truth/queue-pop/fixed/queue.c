/* A queue of requests: the bottom half pops without the lock that main-loop code holds while
 * it pops from the same queue. */
#include "qemu/truth.h"

typedef struct Req {
    struct Req *next;
    int id;
} Req;

typedef struct ReqQueue {
    AioContext *ctx;
    QEMUBH *bh;
    Req *head;
    unsigned int len;
} ReqQueue;

void req_finish(Req *r);

static Req *req_queue_pop(ReqQueue *q)
{
    Req *r = q->head;

    if (r != NULL) {
        q->head = r->next;
        q->len--;
    }
    return r;
}

static void req_queue_bh(void *opaque)
{
    ReqQueue *q = opaque;
    Req *r;

    aio_context_acquire(q->ctx);
    r = req_queue_pop(q);
    aio_context_release(q->ctx);

    if (r) {
        req_finish(r);
    }
}

void req_queue_flush(ReqQueue *q)
{
    Req *r;

    aio_context_acquire(q->ctx);
    r = req_queue_pop(q);
    if (r) {
        req_finish(r);
    }
    aio_context_release(q->ctx);
}

void req_queue_init(ReqQueue *q, AioContext *ctx)
{
    q->ctx = ctx;
    q->bh = aio_bh_new(ctx, req_queue_bh, q);
}
