/* A function that must run drained: the shrink bottom half calls it while a guest request may
 * still be in flight on the node. */
#include "qemu/truth.h"

typedef struct Image {
    BlockDriverState *bs;
    QEMUBH *bh;
    unsigned int size;
} Image;

void image_truncate(Image *img);

static void image_shrink(Image *img)
{
    image_truncate(img);
}

static void image_shrink_bh(void *opaque)
{
    Image *img = opaque;

    bdrv_drained_begin(img->bs);
    image_shrink(img);
    bdrv_drained_end(img->bs);
}

void image_init(Image *img)
{
    img->bh = aio_bh_new(qemu_get_aio_context(), image_shrink_bh, img);
}
