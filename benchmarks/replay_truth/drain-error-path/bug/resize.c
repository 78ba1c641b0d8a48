/* A drained section left open: the resize bottom half returns on its error path without
 * ending it. */
#include "qemu/truth.h"

typedef struct Resize {
    BlockDriverState *bs;
    QEMUBH *bh;
    int ret;
} Resize;

int resize_prepare(Resize *r);
void resize_apply(Resize *r);

static void resize_bh(void *opaque)
{
    Resize *r = opaque;

    bdrv_drained_begin(r->bs);
    r->ret = resize_prepare(r);
    if (r->ret < 0) {
        return;
    }
    resize_apply(r);
    bdrv_drained_end(r->bs);
}

void resize_start(Resize *r)
{
    r->bh = aio_bh_new(qemu_get_aio_context(), resize_bh, r);
}
