/* linux/kernel.h - the catch-all: container_of, min/max, BUG/WARN,
 * ERR_PTR, byte order, division helpers, printk.
 * Models: BUG_ON aborts (a kernel oops), WARN_ON prints and goes on,
 * printk goes to stderr (kshim_log, silenced by kshim_quiet), rate limits
 * are ignored (every message is printed), cond_resched/might_sleep are
 * no-ops (one thread).  Kernel files rely on this header for what the real
 * one pulls in transitively: bitops.h, list.h and string.h are included at
 * the end.
 */
#ifndef KSHIM_LINUX_KERNEL_H
#define KSHIM_LINUX_KERNEL_H

#include <linux/types.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BUILD_BUG_ON(c) _Static_assert(!(c), "BUILD_BUG_ON: " #c)

#define min(a, b) ({ typeof(a) kmin_a = (a); typeof(b) kmin_b = (b); kmin_a < kmin_b ? kmin_a : kmin_b; })
#define max(a, b) ({ typeof(a) kmax_a = (a); typeof(b) kmax_b = (b); kmax_a > kmax_b ? kmax_a : kmax_b; })
#define min_t(t, a, b) ({ t kmint_a = (a); t kmint_b = (b); kmint_a < kmint_b ? kmint_a : kmint_b; })
#define max_t(t, a, b) ({ t kmaxt_a = (a); t kmaxt_b = (b); kmaxt_a > kmaxt_b ? kmaxt_a : kmaxt_b; })
#define swap(a, b) do { typeof(a) kswap_t = (a); (a) = (b); (b) = kswap_t; } while (0)

/* printk: level prefix kept in the text; everything to stderr. */
void kshim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Nonzero: kshim_log prints nothing (tests that provoke errors). */
extern int kshim_quiet;
#define KERN_ERR "<3>"
#define KERN_WARNING "<4>"
#define KERN_INFO "<6>"
#define KERN_DEBUG "<7>"
#define printk(...) kshim_log(__VA_ARGS__)
#define pr_err(fmt, ...) kshim_log(KERN_ERR fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) kshim_log(KERN_WARNING fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) kshim_log(KERN_INFO fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) do { if (0) kshim_log(fmt, ##__VA_ARGS__); } while (0)
#define pr_err_ratelimited pr_err
#define pr_warn_ratelimited pr_warn

/* A kernel BUG: the harness treats the abort as a crash of the backend. */
void kshim_bug(const char *file, int line, const char *cond)
	__attribute__((noreturn));
#define BUG() kshim_bug(__FILE__, __LINE__, "BUG()")
#define BUG_ON(c) do { if (unlikely(c)) kshim_bug(__FILE__, __LINE__, #c); } while (0)
#define WARN_ON(c) ({ int kwarn_c = !!(c); \
	if (unlikely(kwarn_c)) kshim_log(KERN_WARNING "WARN_ON(%s) at %s:%d\n", #c, __FILE__, __LINE__); \
	unlikely(kwarn_c); })
#define WARN_ON_ONCE(c) WARN_ON(c)

#define cond_resched() do { } while (0)
#define might_sleep() do { } while (0)

/* linux/err.h */
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr) { return !ptr || IS_ERR(ptr); }

/* Byte order: a little-endian host (checked in linux/types.h). */
#define cpu_to_le16(x) ((__le16)(x))
#define cpu_to_le32(x) ((__le32)(x))
#define cpu_to_le64(x) ((__le64)(x))
#define le16_to_cpu(x) ((u16)(x))
#define le32_to_cpu(x) ((u32)(x))
#define le64_to_cpu(x) ((u64)(x))
static inline void le32_add_cpu(__le32 *var, u32 val) { *var += val; }
static inline void le64_add_cpu(__le64 *var, u64 val) { *var += val; }

/* Division (asm/div64.h, linux/math64.h): do_div divides n in place and
 * yields the remainder. */
#define do_div(n, base) ({ u32 kdd_b = (base); u32 kdd_r = (u32)((n) % kdd_b); (n) /= kdd_b; kdd_r; })
#define sector_div(n, b) do_div(n, b)
static inline u64 div_u64(u64 dividend, u32 divisor) { return dividend / divisor; }

#include <linux/bitops.h>
#include <linux/list.h>
#include <linux/string.h>

#endif /* KSHIM_LINUX_KERNEL_H */
