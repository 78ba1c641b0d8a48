/* A main-loop fd handler (qemu_set_fd_handler) retires outstanding commands without the
 * IOThread's context lock; the IOThread's bottom half does it under the lock. */
#include "qemu/truth.h"

typedef struct Mon {
    AioContext *ctx;
    QEMUBH *bh;
    unsigned int outstanding;
    unsigned int retired;
} Mon;

static void mon_retire(Mon *m)
{
    if (m->outstanding > 0) {
        m->outstanding--;
        m->retired++;
    }
}

static void mon_read(void *opaque)
{
    Mon *m = opaque;

    aio_context_acquire(m->ctx);
    mon_retire(m);
    aio_context_release(m->ctx);
}

static void mon_bh(void *opaque)
{
    Mon *m = opaque;

    aio_context_acquire(m->ctx);
    mon_retire(m);
    aio_context_release(m->ctx);
}

void mon_init(Mon *m, AioContext *ctx)
{
    m->ctx = ctx;
    m->bh = aio_bh_new(ctx, mon_bh, m);
    qemu_set_fd_handler(5, mon_read, NULL, m);
}
