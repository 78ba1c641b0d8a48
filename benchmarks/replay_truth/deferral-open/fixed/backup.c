/* A drained section open across the deferral of the job's completion, without the iohandler
 * context's external handlers disabled: a guest request enters the section. */
#include "qemu/truth.h"

typedef struct BackupJob {
    BlockJob *common;
    BlockDriverState *bs;
} BackupJob;

void backup_copy(BackupJob *b);
bool backup_more(BackupJob *b);

static void backup_finish(BlockJob *job, void *opaque)
{
    BackupJob *b = opaque;

    bdrv_drained_end(b->bs);
    if (qemu_get_aio_context() == bdrv_get_aio_context(b->bs)) {
        aio_enable_external(iohandler_get_aio_context());
    }
}

static void backup_run(void *opaque)
{
    BackupJob *b = opaque;

    do {
        backup_copy(b);
    } while (backup_more(b));
    bdrv_drained_begin(b->bs);
    if (qemu_get_aio_context() == bdrv_get_aio_context(b->bs)) {
        aio_disable_external(iohandler_get_aio_context());
    }
    block_job_defer_to_main_loop(b->common, backup_finish, b);
}

void backup_start(BackupJob *b)
{
    Coroutine *co = qemu_coroutine_create(backup_run, b);

    aio_co_enter(bdrv_get_aio_context(b->bs), co);
}
