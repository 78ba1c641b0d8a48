/* A do ... while loop flushing a queue without the context lock in the bottom half. */
#include "qemu/truth.h"

typedef struct Flusher {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    unsigned int queued;
    unsigned int flushed;
} Flusher;

static void flusher_run(Flusher *f)
{
    do {
        if (!f->queued) {
            break;
        }
        f->queued--;
        f->flushed++;
    } while (f->queued);
}

static void flusher_bh(void *opaque)
{
    Flusher *f = opaque;

    aio_context_acquire(f->ctx);
    flusher_run(f);
    aio_context_release(f->ctx);
}

static void flusher_event(EventNotifier *e)
{
    Flusher *f = container_of(e, Flusher, ev);

    event_notifier_test_and_clear(e);
    aio_context_acquire(f->ctx);
    flusher_run(f);
    aio_context_release(f->ctx);
}

void flusher_init(Flusher *f, AioContext *ctx)
{
    f->ctx = ctx;
    f->bh = aio_bh_new(ctx, flusher_bh, f);
    aio_set_event_notifier(ctx, &f->ev, false, flusher_event, NULL, NULL);
}
