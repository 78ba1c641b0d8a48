/* A QemuMutex left held: the flush bottom half returns on its error path without unlocking. */
#include "qemu/truth.h"

typedef struct Log {
    QemuMutex lock;
    QEMUBH *bh;
    unsigned int errors;
    unsigned int written;
} Log;

int log_write(Log *l);

static void log_flush_bh(void *opaque)
{
    Log *l = opaque;

    qemu_mutex_lock(&l->lock);
    if (log_write(l) < 0) {
        l->errors++;
        qemu_mutex_unlock(&l->lock);
        return;
    }
    l->written++;
    qemu_mutex_unlock(&l->lock);
}

void log_init(Log *l, AioContext *ctx)
{
    l->bh = aio_bh_new(ctx, log_flush_bh, l);
}
