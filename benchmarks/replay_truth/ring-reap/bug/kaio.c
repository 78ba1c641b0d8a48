/* Completions reaped from the kernel's AIO ring: the event handler peeks and commits without
 * the context lock, so the main thread's drain can reap the same events again. */
#include "qemu/truth.h"

typedef struct KReq {
    Coroutine *waiter;
    int ret;
} KReq;

typedef struct KAio {
    AioContext *ctx;
    EventNotifier ev;
    io_context_t io;
    unsigned int inflight;
} KAio;

static void kaio_reap(KAio *k)
{
    struct io_event *events;
    unsigned int n = io_getevents_peek(k->io, &events);
    unsigned int i;

    for (i = 0; i < n; i++) {
        KReq *req = events[i].obj;

        k->inflight--;
        aio_co_wake(req->waiter);
    }
    io_getevents_commit(k->io, n);
}

static void kaio_event(EventNotifier *e)
{
    KAio *k = container_of(e, KAio, ev);

    if (event_notifier_test_and_clear(e)) {
        kaio_reap(k);
    }
}

void kaio_attach(KAio *k, AioContext *ctx)
{
    k->ctx = ctx;
    aio_set_event_notifier(ctx, &k->ev, false, kaio_event, NULL, NULL);
}
