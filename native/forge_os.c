/*
 * forge_os: the small Node-API addon behind forge-alloc/os (Linux; macOS builds without the NUMA calls).
 *
 * Preconditions, stated once (as mimalloc's prim.h does):
 * - JavaScript never sees an address. Every call takes (ArrayBuffer, offset, length); this file bounds-checks
 *   the span against the buffer and computes the address itself.
 * - A mapping is an external ArrayBuffer, registered here. Every span is checked: the buffer must be a live
 *   mapping of ours (EBADF otherwise: a foreign, detached or disposed buffer), the numbers non-negative integers
 *   (EINVAL), the span inside the buffer (ERANGE), and whole pages for the page calls (EINVAL).
 * - unmap() retires a mapping in ONE call: fresh zero pages over it in place (MAP_FIXED); views are not detached
 *   (Node's zlib aborts on a buffer detached under it) and read zeros. The address range is munmapped only when the
 *   buffer object and its V8 backing store are both gone (two finalizers), so nothing that can still reach it (a
 *   view, a transferred buffer, native I/O holding the buffer) ever sees it unmapped, and no new mapping can reuse
 *   its addresses meanwhile.
 * - Failures return -errno (a negative number); JavaScript turns it into an error carrying errno and its name.
 *   Misuse of the API itself (a wrong argument type) throws a TypeError with code ERR_FORGE_OS_ARGUMENT.
 *   No argument from JavaScript can crash the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#endif

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

#define FLAG_POPULATE 1
#define FLAG_HUGETLB 2
#define FLAG_NORESERVE 4
#define FLAG_ALL (FLAG_POPULATE | FLAG_HUGETLB | FLAG_NORESERVE)

/* Why a span or a buffer was refused (returned as -errno, so JavaScript tells them apart):
   EBADF  the buffer is not a live mapping made by this addon (a foreign buffer, a detached one, a disposed one);
   ERANGE the span leaves the buffer; EINVAL a bad number (negative, fractional, unaligned, zero length). */

/* One mapping. Two references keep its address range reserved: the JavaScript ArrayBuffer object (napi_wrap
   finalizer) and V8's backing store (the external buffer's finalizer), which outlives the object when the buffer
   was transferred. unmap() only retires it: fresh zero pages replace the contents in place (MAP_FIXED), every view
   is detached, and the range stays reserved. munmap happens when both references are gone, so nothing that can
   still reach the range (a view, a transferred buffer, native I/O holding the buffer) ever sees it unmapped or
   reused by a new mapping. */
typedef struct mapping {
  void *addr;
  size_t len;
  int refs;    /* 0..2, see above */
  int retired; /* 1 once unmap() replaced the contents */
  int fd;      /* a shared mapping's memory file (closed when it is retired), or -1 */
  struct mapping *next;
} mapping_t;

/* Every mapping this addon made and has not yet munmapped. Workers share the addon, hence the lock. */
static mapping_t *registry = NULL;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void release_mapping(mapping_t *m) {
  pthread_mutex_lock(&registry_lock);
  int last = --m->refs == 0;
  if (last) {
    for (mapping_t **p = &registry; *p != NULL; p = &(*p)->next) {
      if (*p == m) {
        *p = m->next;
        break;
      }
    }
  }
  pthread_mutex_unlock(&registry_lock);
  if (last) {
    munmap(m->addr, m->len);
    if (m->fd >= 0) close(m->fd);
    free(m);
  }
}

static void finalize_backing_store(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  release_mapping((mapping_t *)hint);
}

static void finalize_object(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release_mapping((mapping_t *)data);
}

/* True when m is in the registry (so a pointer from napi_unwrap is really one of ours). */
static int registered(mapping_t *m) {
  int found = 0;
  pthread_mutex_lock(&registry_lock);
  for (mapping_t *p = registry; p != NULL; p = p->next) {
    if (p == m) {
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return found;
}

/* True when [data, data + size) lies inside a live (not retired) mapping of ours. */
static int inside_live_mapping(const char *data, size_t size) {
  int found = 0;
  pthread_mutex_lock(&registry_lock);
  for (mapping_t *p = registry; p != NULL; p = p->next) {
    const char *a = (const char *)p->addr;
    if (!p->retired && data >= a && size <= p->len && (size_t)(data - a) <= p->len - size) {
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return found;
}

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "forge_os: Node-API call failed: " #call); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static napi_value number(napi_env env, double value) {
  napi_value out;
  if (napi_create_double(env, value, &out) != napi_ok) return NULL;
  return out;
}

static napi_value fail(napi_env env, int err) { return number(env, -(double)err); }

static void type_error(napi_env env, const char *message) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, "ERR_FORGE_OS_ARGUMENT", message);
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    type_error(env, "forge_os: too few arguments");
    return 0;
  }
  return 1;
}

/* A number argument: 1 when it is a number (its value in *out), 0 after throwing a TypeError naming `what`. */
static int get_number(napi_env env, napi_value v, const char *what, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, out) != napi_ok) {
    type_error(env, what);
    return 0;
  }
  return 1;
}

/* A non-negative integer below 2^53, or -1 (NaN, negative, fractional, too large). */
static double as_count(double d) {
  if (!(d >= 0) || d != floor(d) || d > 9007199254740991.0) return -1;
  return d;
}

/* An ArrayBuffer argument, or 0 after throwing a TypeError. */
static int get_arraybuffer(napi_env env, napi_value v, const char *what, void **data, size_t *size) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, v, data, size) != napi_ok) {
    type_error(env, what);
    return 0;
  }
  return 1;
}

/* Resolves (buffer, offset, length) to an address. Returns -1 after throwing a TypeError (wrong argument types),
   0 when the span is good, or a positive errno: EBADF (not a live mapping of ours), EINVAL (a bad number, or not
   whole pages when `pages`), ERANGE (the span leaves the buffer). */
static int get_span(napi_env env, napi_value buf, napi_value off, napi_value len, int pages, char **addr,
                    size_t *length) {
  void *data;
  size_t size;
  double od, ld;
  if (!get_arraybuffer(env, buf, "forge_os: expected an ArrayBuffer made by map()", &data, &size)) return -1;
  if (!get_number(env, off, "forge_os: the offset must be a number", &od)) return -1;
  if (!get_number(env, len, "forge_os: the length must be a number", &ld)) return -1;
  if (data == NULL || size == 0 || !inside_live_mapping((const char *)data, size)) return EBADF;
  double o = as_count(od), l = as_count(ld);
  if (o < 0 || l <= 0) return EINVAL;
  if (o > (double)size || l > (double)size - o) return ERANGE;
  if (pages) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    if (fmod(o, (double)page) != 0 || fmod(l, (double)page) != 0) return EINVAL;
  }
  *addr = (char *)data + (size_t)o;
  *length = (size_t)l;
  return 0;
}

/* pageSize() -> bytes */
static napi_value page_size(napi_env env, napi_callback_info info) {
  (void)info;
  long p = sysconf(_SC_PAGESIZE);
  return number(env, p > 0 ? (double)p : 4096.0);
}

/* Maps len bytes whose address is a multiple of align (a power of two >= the page size): over-map by align,
   then give back the head and the tail. The kernel's own alignment is used when it suffices. */
static void *map_aligned(size_t len, size_t align, int mflags) {
  long page = sysconf(_SC_PAGESIZE);
  if (align <= (size_t)page) return mmap(NULL, len, PROT_READ | PROT_WRITE, mflags, -1, 0);
  size_t total = len + align;
  char *raw = (char *)mmap(NULL, total, PROT_READ | PROT_WRITE, mflags & ~MAP_POPULATE, -1, 0);
  if (raw == MAP_FAILED) return MAP_FAILED;
  char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  if (start > raw) munmap(raw, (size_t)(start - raw));
  char *end = start + len;
  if (raw + total > end) munmap(end, (size_t)(raw + total - end));
#ifdef MADV_WILLNEED
  if (mflags & MAP_POPULATE) madvise(start, len, MADV_WILLNEED);
#endif
  return start;
}

/* Registers the mapping [addr, addr + len) (with its memory file fd, or -1) and returns it as an external
   ArrayBuffer wrapped with its record, or -ENOMEM / NULL after throwing. On failure the range is unmapped and fd
   closed. */
static napi_value expose(napi_env env, void *addr, size_t len, int fd) {
  mapping_t *m = (mapping_t *)calloc(1, sizeof(mapping_t));
  if (m == NULL) {
    munmap(addr, len);
    if (fd >= 0) close(fd);
    return fail(env, ENOMEM);
  }
  m->addr = addr;
  m->len = len;
  m->fd = fd;
  m->refs = 1; /* the backing store's */
  pthread_mutex_lock(&registry_lock);
  m->next = registry;
  registry = m;
  pthread_mutex_unlock(&registry_lock);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, len, finalize_backing_store, m, &ab) != napi_ok) {
    release_mapping(m);
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    napi_throw_error(env, "ERR_FORGE_EXTERNAL_BUFFER",
                     "forge_os: this runtime refuses external ArrayBuffers (a V8 sandbox, e.g. Electron); "
                     "forge-alloc/os cannot expose OS mappings here");
    return NULL;
  }
  pthread_mutex_lock(&registry_lock);
  m->refs++; /* the object's, released by the wrap's finalizer */
  pthread_mutex_unlock(&registry_lock);
  if (napi_wrap(env, ab, m, finalize_object, NULL, NULL) != napi_ok) {
    release_mapping(m); /* the backing store's reference still keeps it until V8 frees the store */
    napi_throw_error(env, NULL, "forge_os: napi_wrap failed on a new mapping");
    return NULL;
  }
  return ab;
}

/* map(length, flags, hugeShift, alignShift) -> ArrayBuffer, or -errno.
   flags: 1 MAP_POPULATE, 2 MAP_HUGETLB (hugeShift = log2 of the huge page size, 16..34, or 0 for the default),
   4 MAP_NORESERVE. alignShift: log2 of the address alignment, 0..30. */
static napi_value map(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  double lend, flagsd, shiftd, alignd;
  if (!get_number(env, argv[0], "forge_os.map: the length must be a number", &lend) ||
      !get_number(env, argv[1], "forge_os.map: the flags must be a number", &flagsd) ||
      !get_number(env, argv[2], "forge_os.map: hugeShift must be a number", &shiftd) ||
      !get_number(env, argv[3], "forge_os.map: alignShift must be a number", &alignd))
    return NULL;
  double len = as_count(lend), flags = as_count(flagsd), shift = as_count(shiftd), align_shift = as_count(alignd);
  if (len <= 0 || flags < 0 || flags > FLAG_ALL || shift < 0 || (shift != 0 && (shift < 16 || shift > 34)) ||
      align_shift < 0 || align_shift > 30)
    return fail(env, EINVAL);
  int f = (int)flags;
  if (shift != 0 && !(f & FLAG_HUGETLB)) return fail(env, EINVAL);
  int mflags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (f & FLAG_POPULATE) mflags |= MAP_POPULATE;
  if (f & FLAG_NORESERVE) {
    if (MAP_NORESERVE == 0) return fail(env, ENOTSUP);
    mflags |= MAP_NORESERVE;
  }
  if (f & FLAG_HUGETLB) {
    if (MAP_HUGETLB == 0) return fail(env, ENOTSUP);
    mflags |= MAP_HUGETLB | (int)((unsigned)shift << MAP_HUGE_SHIFT);
  }
  void *addr = (f & FLAG_HUGETLB) ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, mflags, -1, 0)
                                  : map_aligned((size_t)len, (size_t)1 << (int)align_shift, mflags);
  if (addr == MAP_FAILED) return fail(env, errno);
  return expose(env, addr, (size_t)len, -1);
}

/* unmap(buffer, munlockFirst) -> 0 or -errno (EBADF: not a live mapping of ours). Retires the mapping in one
   call: munlock when asked, then fresh zero pages over the whole range in place (MAP_FIXED, so the old contents
   are gone at once for every reader and no thread can ever see the range unmapped). The buffer is deliberately
   NOT detached: Node's own native code can hold it across calls (zlib's chunked deflate re-reads the buffer for
   each chunk and aborts the process on a detached one), so its views stay valid and read zeros. The address range
   stays reserved until the buffer object and its backing store are both collected (see mapping_t). */
static napi_value unmap(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  void *data;
  size_t size;
  if (!get_arraybuffer(env, argv[0], "forge_os.unmap: expected an ArrayBuffer made by map()", &data, &size))
    return NULL;
  napi_valuetype t;
  bool unlock = false;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_boolean ||
      napi_get_value_bool(env, argv[1], &unlock) != napi_ok) {
    type_error(env, "forge_os.unmap: munlockFirst must be a boolean");
    return NULL;
  }
  void *raw = NULL;
  if (napi_unwrap(env, argv[0], &raw) != napi_ok || raw == NULL || !registered((mapping_t *)raw)) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    return fail(env, EBADF);
  }
  mapping_t *m = (mapping_t *)raw;
  pthread_mutex_lock(&registry_lock);
  int was_retired = m->retired;
  m->retired = 1;
  pthread_mutex_unlock(&registry_lock);
  if (was_retired) return fail(env, EBADF);
  int err = 0;
  if (unlock) munlock(m->addr, m->len);
  void *r = mmap(m->addr, m->len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (r == MAP_FAILED) {
    /* The kernel refused a new mapping (ENOMEM at the map count limit): drop the pages instead. Private
       anonymous pages read as zeros after MADV_DONTNEED; the protection is reset so any reader sees zeros. */
    err = errno;
    if (mprotect(m->addr, m->len, PROT_READ | PROT_WRITE) == 0 && madvise(m->addr, m->len, MADV_DONTNEED) == 0)
      err = 0;
  }
  /* A shared mapping: this process's pages are private zero pages now; its memory file goes too, so the contents
     are freed by the kernel once the last process holding the file (or a mapping of it) lets go. */
  pthread_mutex_lock(&registry_lock);
  int fd = m->fd;
  m->fd = -1;
  pthread_mutex_unlock(&registry_lock);
  if (fd >= 0) close(fd);
  return err == 0 ? number(env, 0) : fail(env, err);
}

/* isMapping(buffer) -> true when buffer is a live (not disposed) mapping made by map(). */
static napi_value is_mapping(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  void *data;
  size_t size;
  bool is_ab = false;
  bool out = napi_is_arraybuffer(env, argv[0], &is_ab) == napi_ok && is_ab &&
             napi_get_arraybuffer_info(env, argv[0], &data, &size) == napi_ok && data != NULL && size > 0 &&
             inside_live_mapping((const char *)data, size);
  napi_value result;
  if (napi_get_boolean(env, out, &result) != napi_ok) return NULL;
  return result;
}

/* baseAlignment(buffer) -> the largest power of two (up to 2^30) dividing the buffer's address; 0 if detached.
   Only these low bits leave C: enough to check an alignment promise, not to learn the address. */
static napi_value base_alignment(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  void *data;
  size_t size;
  if (!get_arraybuffer(env, argv[0], "forge_os.baseAlignment: expected an ArrayBuffer", &data, &size)) return NULL;
  if (data == NULL || size == 0) return number(env, 0);
  uintptr_t a = (uintptr_t)data;
  uintptr_t low = a & (~a + 1);
  return number(env, low > ((uintptr_t)1 << 30) || low == 0 ? (double)(1 << 30) : (double)low);
}

/* A small integer argument in [0, max], or -1 (after a TypeError when it is not a number: check the exception). */
static int get_small(napi_env env, napi_value v, const char *what, int max, int *out) {
  double d;
  if (!get_number(env, v, what, &d)) return 0;
  d = as_count(d);
  *out = d < 0 || d > (double)max ? -1 : (int)d;
  return 1;
}

#define SPAN_OR_RETURN(pages)                                             \
  char *addr;                                                             \
  size_t len;                                                             \
  do {                                                                    \
    int bad = get_span(env, argv[0], argv[1], argv[2], pages, &addr, &len); \
    if (bad < 0) return NULL;                                             \
    if (bad > 0) return fail(env, bad);                                   \
  } while (0)

/* protect(buffer, offset, length, prot) -> 0 or -errno; whole pages; prot bits: 1 read, 2 write, 4 exec. */
static napi_value protect(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int p;
  if (!get_small(env, argv[3], "forge_os.protect: prot must be a number", 7, &p)) return NULL;
  SPAN_OR_RETURN(1);
  if (p < 0) return fail(env, EINVAL);
  int prot = ((p & 1) ? PROT_READ : 0) | ((p & 2) ? PROT_WRITE : 0) | ((p & 4) ? PROT_EXEC : 0);
  if (mprotect(addr, len, prot) != 0) return fail(env, errno);
  return number(env, 0);
}

/* advise(buffer, offset, length, advice) -> 0 or -errno; whole pages; advice: 0 DONTNEED 1 DONTDUMP 2 HUGEPAGE
   3 WILLNEED 4 DODUMP 5 NOHUGEPAGE */
static napi_value advise(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int code;
  if (!get_small(env, argv[3], "forge_os.advise: advice must be a number", 5, &code)) return NULL;
  SPAN_OR_RETURN(1);
  int advice;
  switch (code) {
    case 0: advice = MADV_DONTNEED; break;
#ifdef MADV_DONTDUMP
    case 1: advice = MADV_DONTDUMP; break;
    case 4: advice = MADV_DODUMP; break;
#endif
#ifdef MADV_HUGEPAGE
    case 2: advice = MADV_HUGEPAGE; break;
    case 5: advice = MADV_NOHUGEPAGE; break;
#endif
    case 3: advice = MADV_WILLNEED; break;
    default: return fail(env, code < 0 ? EINVAL : ENOTSUP);
  }
  if (madvise(addr, len, advice) != 0) return fail(env, errno);
  return number(env, 0);
}

static napi_value lock_common(napi_env env, napi_callback_info info, int lock) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  SPAN_OR_RETURN(1);
  if ((lock ? mlock(addr, len) : munlock(addr, len)) != 0) return fail(env, errno);
  return number(env, 0);
}

/* lock(buffer, offset, length) / unlock(...) -> 0 or -errno; whole pages */
static napi_value lock(napi_env env, napi_callback_info info) { return lock_common(env, info, 1); }
static napi_value unlock(napi_env env, napi_callback_info info) { return lock_common(env, info, 0); }

#ifdef __linux__
#ifndef MPOL_MF_MOVE
#define MPOL_MF_STRICT (1 << 0)
#define MPOL_MF_MOVE (1 << 1)
#endif
/* mbind(buffer, offset, length, mode, nodemask BigUint64Array, maxnode, flags) -> 0 or -errno; whole pages;
   mode 0..6 (with the MPOL_F_* mode flags), flags: MPOL_MF_STRICT | MPOL_MF_MOVE only. */
static napi_value do_mbind(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!get_args(env, info, 7, argv)) return NULL;
  napi_typedarray_type type;
  size_t words;
  void *mask;
  bool is_ta = false;
  if (napi_is_typedarray(env, argv[4], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[4], &type, &words, &mask, NULL, NULL) != napi_ok ||
      type != napi_biguint64_array) {
    type_error(env, "forge_os.mbind: the nodemask must be a BigUint64Array");
    return NULL;
  }
  double moded, maxnoded, flagsd;
  if (!get_number(env, argv[3], "forge_os.mbind: mode must be a number", &moded) ||
      !get_number(env, argv[5], "forge_os.mbind: maxnode must be a number", &maxnoded) ||
      !get_number(env, argv[6], "forge_os.mbind: flags must be a number", &flagsd))
    return NULL;
  SPAN_OR_RETURN(1);
  double mode = as_count(moded), maxnode = as_count(maxnoded), flags = as_count(flagsd);
  if (mode < 0 || mode > 65535 || maxnode < 0 || maxnode > (double)words * 64 + 1 || flags < 0 ||
      ((unsigned)flags & ~(unsigned)(MPOL_MF_STRICT | MPOL_MF_MOVE)) != 0 || (words > 0 && mask == NULL))
    return fail(env, EINVAL);
  long rc = syscall(SYS_mbind, (unsigned long)addr, (unsigned long)len, (unsigned long)mode,
                    (const unsigned long *)mask, (unsigned long)maxnode, (unsigned)flags);
  if (rc != 0) return fail(env, errno);
  return number(env, 0);
}

/* getMempolicy(buffer, offset, flags, out BigUint64Array) -> 0 or -errno; out[0] = mode (or node with
   MPOL_F_NODE), out[1..] = nodemask words; flags: MPOL_F_NODE | MPOL_F_ADDR only */
static napi_value get_mempolicy_at(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  napi_typedarray_type type;
  size_t words;
  void *out;
  bool is_ta = false;
  if (napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[3], &type, &words, &out, NULL, NULL) != napi_ok ||
      type != napi_biguint64_array || words < 2 || words > 4096 || out == NULL) {
    type_error(env, "forge_os.getMempolicy: out must be a BigUint64Array of 2 to 4096 words");
    return NULL;
  }
  int flags;
  if (!get_small(env, argv[2], "forge_os.getMempolicy: flags must be a number", 3, &flags)) return NULL;
  char *addr;
  size_t len;
  napi_value one = number(env, 1);
  int bad = get_span(env, argv[0], argv[1], one, 0, &addr, &len);
  if (bad < 0) return NULL;
  if (bad > 0) return fail(env, bad);
  if (flags < 0) return fail(env, EINVAL);
  int mode = 0;
  uint64_t *o = (uint64_t *)out;
  memset(o, 0, words * 8);
  long rc = syscall(SYS_get_mempolicy, &mode, (unsigned long *)(o + 1), (unsigned long)((words - 1) * 64 + 1),
                    (unsigned long)addr, (unsigned long)flags);
  if (rc != 0) return fail(env, errno);
  o[0] = (uint64_t)(uint32_t)mode;
  return number(env, 0);
}

/* currentNode() -> the calling thread's NUMA node, or -errno */
static napi_value current_node(napi_env env, napi_callback_info info) {
  (void)info;
  unsigned cpu = 0, node = 0;
  if (syscall(SYS_getcpu, &cpu, &node, NULL) != 0) return fail(env, errno);
  return number(env, node);
}
#endif

/* ---- memory shared between processes (Linux) ---- */
#ifdef __linux__

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif
/* A shared mapping's file can never change length: shrinking it would turn every other process's pages past the new
   end into SIGBUS. */
#define SHARED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* mapShared(length) -> ArrayBuffer, or -errno. A new anonymous memory file (memfd_create: no name in any file
   system, close-on-exec, mode 0600), of exactly `length` bytes (a multiple of the page size), sealed against any
   change of length, mapped MAP_SHARED. The file stays open with the mapping (sharedFd) until unmap(). */
static napi_value map_shared(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  double lend;
  if (!get_number(env, argv[0], "forge_os.mapShared: the length must be a number", &lend)) return NULL;
  double len = as_count(lend);
  long page = sysconf(_SC_PAGESIZE);
  if (len <= 0 || fmod(len, (double)(page > 0 ? page : 4096)) != 0) return fail(env, EINVAL);
  int fd = (int)syscall(SYS_memfd_create, "forge-alloc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return fail(env, errno);
  int err = 0;
  if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)len) != 0 || fcntl(fd, F_ADD_SEALS, SHARED_SEALS) != 0)
    err = errno;
  void *addr = err != 0 ? MAP_FAILED : mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    if (err == 0) err = errno;
    close(fd);
    return fail(env, err);
  }
  return expose(env, addr, (size_t)len, fd);
}

/* openShared(pid, fd, length) -> ArrayBuffer, or -errno. Maps a memory file another process made with mapShared:
   pid 0: `fd` is a descriptor this process holds (inherited through child_process stdio); it is duplicated, never
   taken over. pid > 0: /proc/<pid>/fd/<fd> is opened (the kernel allows it only to processes that may inspect that
   one: the same user, or root). The file must be what mapShared makes: a regular file of this user, sealed against
   any change of length (EINVAL otherwise), of exactly `length` bytes (ERANGE otherwise). */
static napi_value open_shared(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  double pidd, fdd, lend;
  if (!get_number(env, argv[0], "forge_os.openShared: the pid must be a number", &pidd) ||
      !get_number(env, argv[1], "forge_os.openShared: the fd must be a number", &fdd) ||
      !get_number(env, argv[2], "forge_os.openShared: the length must be a number", &lend))
    return NULL;
  double pid = as_count(pidd), fdn = as_count(fdd), len = as_count(lend);
  if (pid < 0 || pid > 4194304 || fdn < 0 || fdn > 2147483647 || len <= 0) return fail(env, EINVAL);
  int fd;
  if (pid == 0) {
    fd = fcntl((int)fdn, F_DUPFD_CLOEXEC, 3);
  } else {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, (int)fdn);
    /* Look before opening: only a regular file of this user is opened (opening a device or a FIFO can block or
       have effects of its own). */
    struct stat pre;
    if (stat(path, &pre) != 0) return fail(env, errno);
    if (!S_ISREG(pre.st_mode) || pre.st_uid != geteuid()) return fail(env, EINVAL);
    fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0) return fail(env, errno);
  struct stat st;
  int err = 0;
  int seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) != 0)
    err = errno;
  else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || seals < 0 || (seals & SHARED_SEALS) != SHARED_SEALS)
    err = EINVAL;
  else if ((double)st.st_size != len)
    err = ERANGE;
  void *addr = err != 0 ? MAP_FAILED : mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    if (err == 0) err = errno;
    close(fd);
    return fail(env, err);
  }
  return expose(env, addr, (size_t)len, fd);
}

/* sharedFd(buffer) -> the descriptor of a live shared mapping's memory file (to hand to a child), or -EBADF. */
static napi_value shared_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  void *raw = NULL;
  bool is_ab = false;
  if (napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab) {
    type_error(env, "forge_os.sharedFd: expected an ArrayBuffer made by mapShared()");
    return NULL;
  }
  if (napi_unwrap(env, argv[0], &raw) != napi_ok || raw == NULL || !registered((mapping_t *)raw)) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    return fail(env, EBADF);
  }
  mapping_t *m = (mapping_t *)raw;
  pthread_mutex_lock(&registry_lock);
  int fd = m->retired ? -1 : m->fd;
  pthread_mutex_unlock(&registry_lock);
  return fd < 0 ? fail(env, EBADF) : number(env, fd);
}

/* A 4-aligned word of a live mapping for the futex calls, or a positive errno / -1 after a TypeError. */
static int futex_word(napi_env env, napi_value buf, napi_value off, int **word) {
  char *addr;
  size_t len;
  napi_value four = number(env, 4);
  int bad = get_span(env, buf, off, four, 0, &addr, &len);
  if (bad != 0) return bad;
  if (((uintptr_t)addr & 3) != 0) return EINVAL;
  *word = (int *)addr;
  return 0;
}

/* futexWait(buffer, offset, expected, timeoutMs) -> 0 (woken, or spuriously), -EAGAIN (the word was not
   `expected`), -ETIMEDOUT, -EINTR (a signal). A process-shared futex (not FUTEX_PRIVATE): it pairs with futexWake
   from any process mapping the same memory file. timeoutMs: a non-negative number, or Infinity. Blocks the
   calling thread, as Atomics.wait does. */
static napi_value futex_wait(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  double expd, msd;
  if (!get_number(env, argv[2], "forge_os.futexWait: expected must be a number", &expd) ||
      !get_number(env, argv[3], "forge_os.futexWait: timeoutMs must be a number", &msd))
    return NULL;
  int *word;
  int bad = futex_word(env, argv[0], argv[1], &word);
  if (bad < 0) return NULL;
  if (bad > 0) return fail(env, bad);
  if (!(msd >= 0) || expd != floor(expd) || expd < -2147483648.0 || expd > 4294967295.0) return fail(env, EINVAL);
  int expected = (int)(expd > 2147483647.0 ? expd - 4294967296.0 : expd);
  struct timespec ts, *tp = NULL;
  if (isfinite(msd)) {
    ts.tv_sec = (time_t)(msd / 1000);
    ts.tv_nsec = (long)fmod(msd * 1e6, 1e9);
    tp = &ts;
  }
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, tp, NULL, 0);
  if (rc != 0) return fail(env, errno);
  return number(env, 0);
}

/* futexWake(buffer, offset, count) -> how many waiters were woken (in any process), or -errno. */
static napi_value futex_wake(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  double countd;
  if (!get_number(env, argv[2], "forge_os.futexWake: count must be a number", &countd)) return NULL;
  int *word;
  int bad = futex_word(env, argv[0], argv[1], &word);
  if (bad < 0) return NULL;
  if (bad > 0) return fail(env, bad);
  double count = as_count(countd);
  if (count <= 0) return fail(env, EINVAL);
  long rc = syscall(SYS_futex, word, FUTEX_WAKE, count > 2147483647.0 ? 2147483647 : (int)count, NULL, NULL, 0);
  if (rc < 0) return fail(env, errno);
  return number(env, (double)rc);
}

/* processAlive(pid) -> 1 when a process with that id exists (kill(pid, 0) succeeds or says EPERM), 0 when none
   does (ESRCH), or -errno. Signals nothing. */
static napi_value process_alive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  double pidd;
  if (!get_number(env, argv[0], "forge_os.processAlive: the pid must be a number", &pidd)) return NULL;
  double pid = as_count(pidd);
  if (pid < 1 || pid > 4194304) return fail(env, EINVAL);
  if (kill((pid_t)pid, 0) == 0 || errno == EPERM) return number(env, 1);
  return errno == ESRCH ? number(env, 0) : fail(env, errno);
}

/* setAffinity(mask BigUint64Array) -> 0 or -errno: the calling thread may run only on the CPUs in the mask. */
static napi_value set_affinity(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  napi_typedarray_type type;
  size_t words;
  void *mask;
  bool is_ta = false;
  if (napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[0], &type, &words, &mask, NULL, NULL) != napi_ok ||
      type != napi_biguint64_array || words < 1 || words > 1024 || mask == NULL) {
    type_error(env, "forge_os.setAffinity: the mask must be a BigUint64Array of 1 to 1024 words");
    return NULL;
  }
  if (sched_setaffinity(0, words * 8, (cpu_set_t *)mask) != 0) return fail(env, errno);
  return number(env, 0);
}

/* getAffinity(out BigUint64Array) -> 0 or -errno: the CPUs the calling thread may run on. */
static napi_value get_affinity(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  napi_typedarray_type type;
  size_t words;
  void *mask;
  bool is_ta = false;
  if (napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[0], &type, &words, &mask, NULL, NULL) != napi_ok ||
      type != napi_biguint64_array || words < 1 || words > 1024 || mask == NULL) {
    type_error(env, "forge_os.getAffinity: out must be a BigUint64Array of 1 to 1024 words");
    return NULL;
  }
  memset(mask, 0, words * 8);
  if (sched_getaffinity(0, words * 8, (cpu_set_t *)mask) != 0) return fail(env, errno);
  return number(env, 0);
}
#endif

/* currentCpu() -> the calling thread's CPU (glibc's rseq-backed sched_getcpu), or -errno */
static napi_value current_cpu(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  int cpu = sched_getcpu();
  if (cpu < 0) return fail(env, errno);
  return number(env, cpu);
#else
  return fail(env, ENOSYS);
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"pageSize", NULL, page_size, NULL, NULL, NULL, napi_default, NULL},
      {"map", NULL, map, NULL, NULL, NULL, napi_default, NULL},
      {"unmap", NULL, unmap, NULL, NULL, NULL, napi_default, NULL},
      {"isMapping", NULL, is_mapping, NULL, NULL, NULL, napi_default, NULL},
      {"baseAlignment", NULL, base_alignment, NULL, NULL, NULL, napi_default, NULL},
      {"protect", NULL, protect, NULL, NULL, NULL, napi_default, NULL},
      {"advise", NULL, advise, NULL, NULL, NULL, napi_default, NULL},
      {"lock", NULL, lock, NULL, NULL, NULL, napi_default, NULL},
      {"unlock", NULL, unlock, NULL, NULL, NULL, napi_default, NULL},
      {"currentCpu", NULL, current_cpu, NULL, NULL, NULL, napi_default, NULL},
#ifdef __linux__
      {"mbind", NULL, do_mbind, NULL, NULL, NULL, napi_default, NULL},
      {"getMempolicy", NULL, get_mempolicy_at, NULL, NULL, NULL, napi_default, NULL},
      {"currentNode", NULL, current_node, NULL, NULL, NULL, napi_default, NULL},
      {"mapShared", NULL, map_shared, NULL, NULL, NULL, napi_default, NULL},
      {"openShared", NULL, open_shared, NULL, NULL, NULL, napi_default, NULL},
      {"sharedFd", NULL, shared_fd, NULL, NULL, NULL, napi_default, NULL},
      {"futexWait", NULL, futex_wait, NULL, NULL, NULL, napi_default, NULL},
      {"futexWake", NULL, futex_wake, NULL, NULL, NULL, napi_default, NULL},
      {"processAlive", NULL, process_alive, NULL, NULL, NULL, napi_default, NULL},
      {"setAffinity", NULL, set_affinity, NULL, NULL, NULL, napi_default, NULL},
      {"getAffinity", NULL, get_affinity, NULL, NULL, NULL, napi_default, NULL},
#endif
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
