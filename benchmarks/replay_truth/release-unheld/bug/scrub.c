/* A release without the acquire: the scrubber takes the context lock only when it was asked
 * to be exclusive, but always releases it. */
#include "qemu/truth.h"

typedef struct Scrub {
    AioContext *ctx;
    QEMUBH *bh;
    bool exclusive;
    unsigned int passes;
} Scrub;

void scrub_pass(Scrub *s);

static void scrub_bh(void *opaque)
{
    Scrub *s = opaque;

    if (s->exclusive) {
        aio_context_acquire(s->ctx);
    }
    scrub_pass(s);
    s->passes++;
    aio_context_release(s->ctx);
}

void scrub_init(Scrub *s, AioContext *ctx)
{
    s->ctx = ctx;
    s->bh = aio_bh_new(ctx, scrub_bh, s);
}
