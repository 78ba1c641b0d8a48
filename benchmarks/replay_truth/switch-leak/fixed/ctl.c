/* A lock left held on one case of a switch: the reset command breaks out without releasing
 * the context lock. */
#include "qemu/truth.h"

enum { CTL_NOP, CTL_FLUSH, CTL_RESET };

typedef struct Ctl {
    AioContext *ctx;
    EventNotifier ev;
    int cmd;
} Ctl;

void ctl_flush(Ctl *c);
void ctl_reset(Ctl *c);

static void ctl_event(EventNotifier *e)
{
    Ctl *c = container_of(e, Ctl, ev);

    event_notifier_test_and_clear(e);
    switch (c->cmd) {
    case CTL_FLUSH:
        aio_context_acquire(c->ctx);
        ctl_flush(c);
        aio_context_release(c->ctx);
        break;
    case CTL_RESET:
        aio_context_acquire(c->ctx);
        ctl_reset(c);
        aio_context_release(c->ctx);
        break;
    default:
        break;
    }
}

void ctl_init(Ctl *c, AioContext *ctx)
{
    c->ctx = ctx;
    aio_set_event_notifier(ctx, &c->ev, false, ctl_event, NULL, NULL);
}
