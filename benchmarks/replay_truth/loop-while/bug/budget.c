/* A while (cond) loop whose exit the model cannot evaluate (budget_more() is unknown code):
 * the fd handler spends the budget without the context lock. */
#include "qemu/truth.h"

typedef struct Budget {
    AioContext *ctx;
    QEMUBH *bh;
    unsigned int tokens;
    unsigned int spent;
} Budget;

bool budget_more(Budget *b);

static void budget_spend(Budget *b)
{
    while (b->tokens > 0 && budget_more(b)) {
        b->tokens--;
        b->spent++;
    }
}

static void budget_read(void *opaque)
{
    Budget *b = opaque;

    budget_spend(b);
}

static void budget_bh(void *opaque)
{
    Budget *b = opaque;

    aio_context_acquire(b->ctx);
    budget_spend(b);
    aio_context_release(b->ctx);
}

void budget_init(Budget *b, AioContext *ctx)
{
    b->ctx = ctx;
    b->bh = aio_bh_new(ctx, budget_bh, b);
    aio_set_fd_handler(ctx, 7, false, budget_read, NULL, NULL, NULL, b);
}
