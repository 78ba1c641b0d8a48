/*
 * Declarations for the runtime checker's truth benchmark (benchmarks/replay_truth.py), written
 * for it: the names and argument positions of QEMU's event-loop API (AioContext locks, bottom
 * halves, fd and event-notifier handlers, timers, threads, coroutines, drained sections, the
 * block-job deferral of the 2.x era), so that the shipped rule packs and the replay's model
 * apply. The programs of the benchmark are small drivers written against it.
 */
#ifndef QEMU_TRUTH_H
#define QEMU_TRUTH_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#define stringify(x) #x
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

typedef struct AioContext AioContext;
typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;
typedef struct Coroutine Coroutine;
typedef struct QemuThread { unsigned long id; } QemuThread;
typedef struct EventNotifier { int rfd, wfd; } EventNotifier;
typedef void QEMUBHFunc(void *opaque);
typedef void QEMUTimerCB(void *opaque);
typedef void IOHandler(void *opaque);
typedef bool AioPollFn(void *opaque);
typedef void EventNotifierHandler(EventNotifier *e);
typedef void CoroutineEntry(void *opaque);

void aio_context_acquire(AioContext *ctx);
void aio_context_release(AioContext *ctx);
AioContext *qemu_get_aio_context(void);
AioContext *iohandler_get_aio_context(void);
bool aio_poll(AioContext *ctx, bool blocking);

void aio_set_fd_handler(AioContext *ctx, int fd, bool is_external, IOHandler *io_read,
                        IOHandler *io_write, AioPollFn *io_poll, IOHandler *io_poll_ready,
                        void *opaque);
void aio_set_event_notifier(AioContext *ctx, EventNotifier *notifier, bool is_external,
                            EventNotifierHandler *io_read, AioPollFn *io_poll,
                            EventNotifierHandler *io_poll_ready);
int event_notifier_test_and_clear(EventNotifier *e);
int event_notifier_set(EventNotifier *e);
void qemu_set_fd_handler(int fd, IOHandler *fd_read, IOHandler *fd_write, void *opaque);

QEMUBH *aio_bh_new_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque, const char *name);
#define aio_bh_new(ctx, cb, opaque) aio_bh_new_full((ctx), (cb), (opaque), (stringify(cb)))
void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                                  const char *name);
#define aio_bh_schedule_oneshot(ctx, cb, opaque) \
    aio_bh_schedule_oneshot_full((ctx), (cb), (opaque), (stringify(cb)))
void qemu_bh_schedule(QEMUBH *bh);
void qemu_bh_cancel(QEMUBH *bh);
void qemu_bh_delete(QEMUBH *bh);

enum { QEMU_CLOCK_REALTIME, QEMU_CLOCK_VIRTUAL };
#define SCALE_NS 1
#define SCALE_MS 1000000
QEMUTimer *aio_timer_new(AioContext *ctx, int type, int scale, QEMUTimerCB *cb, void *opaque);
QEMUTimer *timer_new_ns(int type, QEMUTimerCB *cb, void *opaque);
void timer_mod(QEMUTimer *ts, int64_t expire_time);
void timer_del(QEMUTimer *ts);
int64_t qemu_clock_get_ns(int type);

void qemu_thread_create(QemuThread *thread, const char *name, void *(*start_routine)(void *),
                        void *arg, int mode);
#define QEMU_THREAD_JOINABLE 0

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);
void qemu_coroutine_enter(Coroutine *co);
void aio_co_enter(AioContext *ctx, Coroutine *co);
void aio_co_wake(Coroutine *co);
void qemu_coroutine_yield(void);

static inline void aio_disable_external(AioContext *ctx) { (void)ctx; }
static inline void aio_enable_external(AioContext *ctx) { (void)ctx; }

typedef struct QemuMutex { int locked; } QemuMutex;
void qemu_mutex_lock_impl(QemuMutex *mutex, const char *file, const int line);
void qemu_mutex_unlock_impl(QemuMutex *mutex, const char *file, const int line);
#define qemu_mutex_lock(m) qemu_mutex_lock_impl(m, __FILE__, __LINE__)
#define qemu_mutex_unlock(m) qemu_mutex_unlock_impl(m, __FILE__, __LINE__)

/* Block layer: nodes, drained sections, jobs (the 2.x deferral API). */
typedef struct BlockDriverState BlockDriverState;
typedef struct BlockJob BlockJob;
typedef void BlockJobDeferToMainLoopFn(BlockJob *job, void *opaque);
void bdrv_drained_begin(BlockDriverState *bs);
void bdrv_drained_end(BlockDriverState *bs);
AioContext *bdrv_get_aio_context(BlockDriverState *bs);
void block_job_defer_to_main_loop(BlockJob *job, BlockJobDeferToMainLoopFn *fn, void *opaque);

/* The kernel's AIO completion ring (libaio). */
struct io_event { void *data; void *obj; long res; long res2; };
typedef struct io_context *io_context_t;
unsigned int io_getevents_peek(io_context_t ctx, struct io_event **events);
void io_getevents_commit(io_context_t ctx, unsigned int nr);

#endif
