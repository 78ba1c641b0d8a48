/* A worker thread folds samples into the statistics without the context lock that the event
 * handler holds while it does the same. */
#include "qemu/truth.h"

typedef struct Stats {
    AioContext *ctx;
    EventNotifier ev;
    QemuThread worker;
    unsigned int samples;
    unsigned int folded;
} Stats;

static void stats_fold(Stats *s)
{
    if (s->samples) {
        s->samples--;
        s->folded++;
    }
}

static void *stats_worker(void *opaque)
{
    Stats *s = opaque;

    aio_context_acquire(s->ctx);
    stats_fold(s);
    aio_context_release(s->ctx);
    return NULL;
}

static void stats_event(EventNotifier *e)
{
    Stats *s = container_of(e, Stats, ev);

    event_notifier_test_and_clear(e);
    aio_context_acquire(s->ctx);
    stats_fold(s);
    aio_context_release(s->ctx);
}

void stats_start(Stats *s, AioContext *ctx)
{
    s->ctx = ctx;
    aio_set_event_notifier(ctx, &s->ev, false, stats_event, NULL, NULL);
    qemu_thread_create(&s->worker, "stats", stats_worker, s, QEMU_THREAD_JOINABLE);
}
