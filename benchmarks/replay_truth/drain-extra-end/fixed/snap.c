/* A drained section ended without being begun: the snapshot begins it only when the node is
 * writable, but always ends it. */
#include "qemu/truth.h"

typedef struct Snap {
    BlockDriverState *bs;
    QEMUBH *bh;
    bool writable;
    unsigned int taken;
} Snap;

void snap_take(Snap *s);

static void snap_bh(void *opaque)
{
    Snap *s = opaque;

    if (s->writable) {
        bdrv_drained_begin(s->bs);
    }
    snap_take(s);
    s->taken++;
    if (s->writable) {
        bdrv_drained_end(s->bs);
    }
}

void snap_init(Snap *s)
{
    s->bh = aio_bh_new(qemu_get_aio_context(), snap_bh, s);
}
