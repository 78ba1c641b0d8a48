/* A coroutine entered with qemu_coroutine_enter() from an fd handler runs in the handler's
 * lock state (none) and writes back the cache; main-loop code does it under the lock. */
#include "qemu/truth.h"

typedef struct QCache {
    AioContext *ctx;
    unsigned int dirty;
    unsigned int clean;
} QCache;

static void qcache_writeback(QCache *c)
{
    if (c->dirty) {
        c->dirty--;
        c->clean++;
    }
}

static void qcache_flush_co(void *opaque)
{
    QCache *c = opaque;

    qcache_writeback(c);
}

static void qcache_read(void *opaque)
{
    QCache *c = opaque;
    Coroutine *co = qemu_coroutine_create(qcache_flush_co, c);

    qemu_coroutine_enter(co);
}

void qcache_flush(QCache *c)
{
    aio_context_acquire(c->ctx);
    qcache_writeback(c);
    aio_context_release(c->ctx);
}

void qcache_init(QCache *c, AioContext *ctx)
{
    c->ctx = ctx;
    aio_set_fd_handler(ctx, 3, false, qcache_read, NULL, NULL, NULL, c);
}
