/* tests/fuzz/fuzz_thin_raw.c - pdtool check, dump and the core's
 * open-and-walk path on arbitrary thin metadata images (64 to 256 blocks,
 * in the sparse form of fuzz.h; byte 1 is enum fz_thin_flags).
 */
#include "fuzz_thin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags;
	struct fz_bdev *m = fz_sparse_image(data, size, &flags);

	if (!m)
		return 0;
	fz_thin_exercise(m, flags);
	fz_destroy(&m->bd);
	return 0;
}
