/* A timer callback refills and spends the throttle's quota without the context lock; the
 * event handler spends it under the lock. */
#include "qemu/truth.h"

typedef struct Throttle {
    AioContext *ctx;
    EventNotifier ev;
    QEMUTimer *timer;
    unsigned int quota;
    unsigned int waiting;
} Throttle;

static void throttle_spend(Throttle *t)
{
    if (t->quota > 0 && t->waiting > 0) {
        t->quota--;
        t->waiting--;
    }
}

static void throttle_timer_cb(void *opaque)
{
    Throttle *t = opaque;

    aio_context_acquire(t->ctx);
    throttle_spend(t);
    aio_context_release(t->ctx);
}

static void throttle_event(EventNotifier *e)
{
    Throttle *t = container_of(e, Throttle, ev);

    event_notifier_test_and_clear(e);
    aio_context_acquire(t->ctx);
    throttle_spend(t);
    aio_context_release(t->ctx);
}

void throttle_init(Throttle *t, AioContext *ctx)
{
    t->ctx = ctx;
    t->timer = aio_timer_new(ctx, QEMU_CLOCK_VIRTUAL, SCALE_NS, throttle_timer_cb, t);
    aio_set_event_notifier(ctx, &t->ev, false, throttle_event, NULL, NULL);
}
