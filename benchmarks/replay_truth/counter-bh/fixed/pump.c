/* A request backlog: the event-notifier handler works it off under the context lock, the
 * bottom half does the same work without it. */
#include "qemu/truth.h"

typedef struct Pump {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    unsigned int backlog;
    unsigned int done;
} Pump;

void pump_issue(Pump *p);

static void pump_drain_backlog(Pump *p)
{
    while (p->backlog > 0) {
        p->backlog--;
        p->done++;
        pump_issue(p);
    }
}

static void pump_bh(void *opaque)
{
    Pump *p = opaque;

    aio_context_acquire(p->ctx);
    pump_drain_backlog(p);
    aio_context_release(p->ctx);
}

static void pump_event(EventNotifier *e)
{
    Pump *p = container_of(e, Pump, ev);

    if (event_notifier_test_and_clear(e)) {
        aio_context_acquire(p->ctx);
        pump_drain_backlog(p);
        aio_context_release(p->ctx);
    }
}

void pump_init(Pump *p, AioContext *ctx)
{
    p->ctx = ctx;
    p->bh = aio_bh_new(ctx, pump_bh, p);
    aio_set_event_notifier(ctx, &p->ev, false, pump_event, NULL, NULL);
}
