/* core/errors.c - pd_strerror and the damage record (errors.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

const char *pd_strerror(int r)
{
	switch (r) {
	case 0:		return "success";
	case -EIO:	return "I/O error (device failed, or object poisoned)";
	case -ENOSPC:	return "no space left in the space map";
	case -ENOMEM:	return "out of memory";
	case -EINVAL:	return "invalid argument";
	case -ENODATA:	return "no such key";
	case -EILSEQ:	return "bad checksum, magic or structure";
	case -ENOTBLK:	return "block number mismatch";
	case -EPERM:	return "read-only";
	case -EEXIST:	return "already exists";
	case -EBUSY:	return "busy";
	case -EOPNOTSUPP: return "not supported";
	default:	return r < 0 ? strerror(-r) : "unknown error";
	}
}

void pd_damage_clear(struct pd_damage *d)
{
	memset(d, 0, sizeof(*d));
}

void pd_damage_note(struct pd_damage *d, uint64_t block, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	d->block = block;
	d->from_set = 0;
	d->seq++;
}

void pd_damage_from(struct pd_damage *d, unsigned seq, uint64_t b,
		    uint64_t parent, uint32_t entry)
{
	size_t n = strlen(d->text);

	if (d->seq == seq || d->block != b || d->from_set)
		return;
	snprintf(d->text + n, sizeof(d->text) - n,
		 ", in entry %" PRIu32 " of block %" PRIu64, entry, parent);
	d->from_set = 1;
}
