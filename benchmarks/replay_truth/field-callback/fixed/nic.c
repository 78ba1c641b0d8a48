/* A callback through a struct field: the bottom half completes received packets through
 * n->ops->rx_done() without the context lock the event handler holds for the same call. */
#include "qemu/truth.h"

struct Nic;

typedef struct NicOps {
    void (*rx_done)(struct Nic *n);
} NicOps;

typedef struct Nic {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    const NicOps *ops;
    unsigned int rx_pending;
    unsigned int rx_done_count;
} Nic;

static void nic_rx_done(Nic *n)
{
    if (n->rx_pending) {
        n->rx_pending--;
        n->rx_done_count++;
    }
}

static const NicOps nic_ops = {
    .rx_done = nic_rx_done,
};

static void nic_bh(void *opaque)
{
    Nic *n = opaque;

    aio_context_acquire(n->ctx);
    n->ops->rx_done(n);
    aio_context_release(n->ctx);
}

static void nic_event(EventNotifier *e)
{
    Nic *n = container_of(e, Nic, ev);

    event_notifier_test_and_clear(e);
    aio_context_acquire(n->ctx);
    n->ops->rx_done(n);
    aio_context_release(n->ctx);
}

void nic_init(Nic *n, AioContext *ctx)
{
    n->ctx = ctx;
    n->ops = &nic_ops;
    n->bh = aio_bh_new(ctx, nic_bh, n);
    aio_set_event_notifier(ctx, &n->ev, false, nic_event, NULL, NULL);
}
