/* A lock missing on one branch: the urgent path of the bottom half runs the queue without the
 * context lock (the condition true). */
#include "qemu/truth.h"

typedef struct WorkQueue {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    bool urgent;
    unsigned int pending;
    unsigned int ran;
} WorkQueue;

static void wq_run(WorkQueue *w)
{
    if (w->pending) {
        w->pending--;
        w->ran++;
    }
}

static void wq_bh(void *opaque)
{
    WorkQueue *w = opaque;

    if (w->urgent) {
        aio_context_acquire(w->ctx);
        wq_run(w);
        aio_context_release(w->ctx);
    } else {
        aio_context_acquire(w->ctx);
        wq_run(w);
        aio_context_release(w->ctx);
    }
}

static void wq_event(EventNotifier *e)
{
    WorkQueue *w = container_of(e, WorkQueue, ev);

    event_notifier_test_and_clear(e);
    aio_context_acquire(w->ctx);
    wq_run(w);
    aio_context_release(w->ctx);
}

void wq_init(WorkQueue *w, AioContext *ctx)
{
    w->ctx = ctx;
    w->bh = aio_bh_new(ctx, wq_bh, w);
    aio_set_event_notifier(ctx, &w->ev, false, wq_event, NULL, NULL);
}
