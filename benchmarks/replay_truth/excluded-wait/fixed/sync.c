/* A wait that must not hold the context lock: the QMP handler waits, with the lock held, for
 * a bottom half of the IOThread that needs the lock to finish. */
#include "qemu/truth.h"

typedef struct Sync {
    AioContext *ctx;
    QEMUBH *done_bh;
    bool done;
} Sync;

static void sync_wake(void *opaque)
{
}

static void sync_done_bh(void *opaque)
{
    Sync *s = opaque;

    aio_context_acquire(s->ctx);
    s->done = true;
    aio_context_release(s->ctx);
    aio_bh_schedule_oneshot(qemu_get_aio_context(), sync_wake, s);
}

static void sync_wait(Sync *s)
{
    while (!s->done) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

void qmp_x_sync(Sync *s)
{
    aio_context_acquire(s->ctx);
    s->done = false;
    qemu_bh_schedule(s->done_bh);
    aio_context_release(s->ctx);
    sync_wait(s);
}

void sync_init(Sync *s, AioContext *ctx)
{
    s->ctx = ctx;
    s->done_bh = aio_bh_new(ctx, sync_done_bh, s);
}
