/* A for (;;) { ... break; } loop consuming credits without the context lock in the bottom
 * half; the event handler holds it. */
#include "qemu/truth.h"

typedef struct Credits {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    unsigned int avail;
    unsigned int used;
} Credits;

static void credits_consume(Credits *c)
{
    for (;;) {
        if (c->avail == 0) {
            break;
        }
        c->avail--;
        c->used++;
    }
}

static void credits_bh(void *opaque)
{
    Credits *c = opaque;

    aio_context_acquire(c->ctx);
    credits_consume(c);
    aio_context_release(c->ctx);
}

static void credits_event(EventNotifier *e)
{
    Credits *c = container_of(e, Credits, ev);

    event_notifier_test_and_clear(e);
    aio_context_acquire(c->ctx);
    credits_consume(c);
    aio_context_release(c->ctx);
}

void credits_init(Credits *c, AioContext *ctx)
{
    c->ctx = ctx;
    c->bh = aio_bh_new(ctx, credits_bh, c);
    aio_set_event_notifier(ctx, &c->ev, false, credits_event, NULL, NULL);
}
