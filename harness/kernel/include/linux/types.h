/* linux/types.h - fixed-width kernel types, sector_t, gfp_t, list heads.
 * Models: the kernel's integer names as <stdint.h> types; __le/__be types
 * as plain integers (sparse's __bitwise checking is ignored); this host is
 * little-endian (checked below), so byte-order conversions are identities.
 */
#ifndef KSHIM_LINUX_TYPES_H
#define KSHIM_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;	/* the kernel's, for its %llu formats */
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef long long s64;
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef unsigned long long __u64;
typedef int32_t __s32;
typedef long long __s64;
typedef uint16_t __le16;
typedef uint32_t __le32;
typedef unsigned long long __le64;
typedef uint16_t __be16;
typedef uint32_t __be32;
typedef unsigned long long __be64;

typedef u64 sector_t;	/* 512-byte sectors, or a dm-bufio block */
typedef unsigned int gfp_t;	/* allocation flags: ignored */

#define __bitwise
#define __force
#define __user
#define __iomem
#define __rcu
#define __acquires(x)
#define __releases(x)
#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
#define __must_check __attribute__((warn_unused_result))
#ifndef __always_inline		/* glibc's sys/cdefs.h has one */
#define __always_inline inline __attribute__((always_inline))
#endif
#define __maybe_unused __attribute__((unused))
#define __printf(a, b) __attribute__((format(printf, a, b)))

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the kernel shim assumes a little-endian host"
#endif

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_head {
	struct hlist_node *first;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

#endif /* KSHIM_LINUX_TYPES_H */
