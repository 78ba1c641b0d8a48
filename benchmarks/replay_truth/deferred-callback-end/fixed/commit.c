/* The deferred completion ends the drained section only when the job succeeded. */
#include "qemu/truth.h"

typedef struct CommitJob {
    BlockJob *common;
    BlockDriverState *bs;
    int ret;
} CommitJob;

int commit_copy(CommitJob *c);

static void commit_finish(BlockJob *job, void *opaque)
{
    CommitJob *c = opaque;

    if (qemu_get_aio_context() == bdrv_get_aio_context(c->bs)) {
        aio_enable_external(iohandler_get_aio_context());
    }
    bdrv_drained_end(c->bs);
}

static void commit_run(void *opaque)
{
    CommitJob *c = opaque;

    c->ret = commit_copy(c);
    bdrv_drained_begin(c->bs);
    if (qemu_get_aio_context() == bdrv_get_aio_context(c->bs)) {
        aio_disable_external(iohandler_get_aio_context());
    }
    block_job_defer_to_main_loop(c->common, commit_finish, c);
}

void commit_start(CommitJob *c)
{
    Coroutine *co = qemu_coroutine_create(commit_run, c);

    aio_co_enter(bdrv_get_aio_context(c->bs), co);
}
