/* core/errors.c - pd_strerror. */
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
