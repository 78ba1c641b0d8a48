/* A flag: the event handler flips it under the context lock, the bottom half without. */
#include "qemu/truth.h"

typedef struct Dev {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    bool busy;
} Dev;

static void dev_toggle(Dev *d)
{
    d->busy = !d->busy;
}

static void dev_bh(void *opaque)
{
    Dev *d = opaque;

    aio_context_acquire(d->ctx);
    dev_toggle(d);
    aio_context_release(d->ctx);
}

static void dev_event(EventNotifier *e)
{
    Dev *d = container_of(e, Dev, ev);

    if (event_notifier_test_and_clear(e)) {
        aio_context_acquire(d->ctx);
        dev_toggle(d);
        aio_context_release(d->ctx);
    }
}

void dev_realize(Dev *d, AioContext *ctx)
{
    d->ctx = ctx;
    d->bh = aio_bh_new(ctx, dev_bh, d);
    aio_set_event_notifier(ctx, &d->ev, false, dev_event, NULL, NULL);
}
