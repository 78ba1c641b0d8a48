/* A submitter racing a completion: main-loop code submits under the context lock and counts
 * the request in flight; the completion handler takes it off the count without the lock. */
#include "qemu/truth.h"

typedef struct Disk {
    AioContext *ctx;
    EventNotifier done;
    unsigned int in_flight;
    unsigned int completed;
} Disk;

int disk_kick(Disk *d);

static void disk_account(Disk *d)
{
    if (d->in_flight == 0) {
        return;
    }
    d->in_flight--;
    d->completed++;
}

static void disk_complete(EventNotifier *e)
{
    Disk *d = container_of(e, Disk, done);

    event_notifier_test_and_clear(e);
    disk_account(d);
}

void disk_submit(Disk *d)
{
    aio_context_acquire(d->ctx);
    d->in_flight++;
    disk_kick(d);
    aio_context_release(d->ctx);
}

void disk_attach(Disk *d, AioContext *ctx)
{
    d->ctx = ctx;
    aio_set_event_notifier(ctx, &d->done, false, disk_complete, NULL, NULL);
}
