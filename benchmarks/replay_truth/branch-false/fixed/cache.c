/* A lock missing on one branch: when the cache cannot defer (the condition false), the bottom
 * half evicts without the context lock. */
#include "qemu/truth.h"

typedef struct Cache {
    AioContext *ctx;
    EventNotifier ev;
    QEMUBH *bh;
    unsigned int dirty;
    unsigned int written;
} Cache;

bool cache_can_defer(Cache *c);

static void cache_evict(Cache *c)
{
    if (c->dirty > 0) {
        c->dirty--;
        c->written++;
    }
}

static void cache_bh(void *opaque)
{
    Cache *c = opaque;

    if (cache_can_defer(c)) {
        aio_context_acquire(c->ctx);
        cache_evict(c);
        aio_context_release(c->ctx);
        return;
    }
    aio_context_acquire(c->ctx);
    cache_evict(c);
    aio_context_release(c->ctx);
}

static void cache_event(EventNotifier *e)
{
    Cache *c = container_of(e, Cache, ev);

    if (!event_notifier_test_and_clear(e)) {
        return;
    }
    aio_context_acquire(c->ctx);
    cache_evict(c);
    aio_context_release(c->ctx);
}

void cache_init(Cache *c, AioContext *ctx)
{
    c->ctx = ctx;
    c->bh = aio_bh_new(ctx, cache_bh, c);
    aio_set_event_notifier(ctx, &c->ev, false, cache_event, NULL, NULL);
}
