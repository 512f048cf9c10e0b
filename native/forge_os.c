/*
 * forge_os: the small Node-API addon behind forge-alloc/os (Linux; macOS builds without the NUMA calls).
 *
 * Preconditions, stated once (as mimalloc's prim.h does):
 * - JavaScript never sees an address. Every call takes (ArrayBuffer, offset, length); this file bounds-checks
 *   the span against the buffer and computes the address itself.
 * - A mapping is an external ArrayBuffer. unmap() detaches it (every JS view drops to length 0) and munmaps it
 *   in ONE call, so no view can reach unmapped memory. A finalizer unmaps what the GC collects first.
 * - Failures return -errno (a negative number); JavaScript turns it into an error carrying errno and its name.
 *   Misuse of the API itself (wrong argument types) throws a TypeError.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <node_api.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif

#define FLAG_POPULATE 1
#define FLAG_HUGETLB 2

typedef struct {
  void *addr;
  size_t len;
  int live; /* 1 until unmap() or the finalizer has unmapped it */
} mapping_t;

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

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "forge_os: too few arguments");
    return 0;
  }
  return 1;
}

/* A non-negative integer below 2^53, or -1. */
static double get_count(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d != floor(d) || d > 9007199254740991.0) return -1;
  return d;
}

/* Resolves (buffer, offset, length) to an address inside the buffer; 0 when the span leaves it. */
static int get_span(napi_env env, napi_value buf, napi_value off, napi_value len, char **addr, size_t *length) {
  void *data;
  size_t size;
  bool is_ab;
  if (napi_is_arraybuffer(env, buf, &is_ab) != napi_ok || !is_ab) {
    napi_throw_type_error(env, NULL, "forge_os: expected an ArrayBuffer");
    return -1;
  }
  if (napi_get_arraybuffer_info(env, buf, &data, &size) != napi_ok) return -1;
  double o = get_count(env, off), l = get_count(env, len);
  if (o < 0 || l < 0 || data == NULL || o > (double)size || l > (double)size - o) return 0;
  *addr = (char *)data + (size_t)o;
  *length = (size_t)l;
  return 1;
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping_t *m = (mapping_t *)hint;
  if (m->live) {
    m->live = 0;
    munmap(m->addr, m->len);
  }
  free(m);
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

/* map(length, flags, hugeShift, alignShift) -> ArrayBuffer, or -errno */
static napi_value map(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  double len = get_count(env, argv[0]), flags = get_count(env, argv[1]), shift = get_count(env, argv[2]);
  double align_shift = get_count(env, argv[3]);
  if (len <= 0 || flags < 0 || shift < 0 || shift > 63 || align_shift < 0 || align_shift > 30) return fail(env, EINVAL);
  int mflags = MAP_PRIVATE | MAP_ANONYMOUS;
  if ((int)flags & FLAG_POPULATE) mflags |= MAP_POPULATE;
  if ((int)flags & FLAG_HUGETLB) {
    if (MAP_HUGETLB == 0) return fail(env, ENOTSUP);
    mflags |= MAP_HUGETLB | ((int)shift << MAP_HUGE_SHIFT);
  }
  void *addr = ((int)flags & FLAG_HUGETLB) ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, mflags, -1, 0)
                                           : map_aligned((size_t)len, (size_t)1 << (int)align_shift, mflags);
  if (addr == MAP_FAILED) return fail(env, errno);
  mapping_t *m = (mapping_t *)malloc(sizeof(mapping_t));
  if (m == NULL) {
    munmap(addr, (size_t)len);
    return fail(env, ENOMEM);
  }
  m->addr = addr;
  m->len = (size_t)len;
  m->live = 1;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, (size_t)len, finalize_mapping, m, &ab) != napi_ok) {
    munmap(addr, (size_t)len);
    free(m);
    napi_throw_error(env, "ERR_FORGE_EXTERNAL_BUFFER",
                     "forge_os: this runtime refuses external ArrayBuffers (a V8 sandbox, e.g. Electron); "
                     "forge-alloc/os cannot expose OS mappings here");
    return NULL;
  }
  if (napi_wrap(env, ab, m, NULL, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "forge_os: napi_wrap failed on a new mapping");
    return NULL; /* the finalizer still owns and unmaps the mapping */
  }
  return ab;
}

/* unmap(buffer, munlockFirst) -> 0 or -errno. Detaches every view, then munmaps: one call. */
static napi_value unmap(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  void *raw = NULL;
  if (napi_remove_wrap(env, argv[0], &raw) != napi_ok || raw == NULL) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    return fail(env, EINVAL); /* not a live mapping of ours (already unmapped?) */
  }
  mapping_t *m = (mapping_t *)raw;
  bool unlock = false;
  napi_get_value_bool(env, argv[1], &unlock);
  void *addr = m->addr;
  size_t len = m->len;
  m->live = 0; /* from here the finalizer only frees the record */
  CHECK(napi_detach_arraybuffer(env, argv[0]));
  if (unlock) munlock(addr, len);
  if (munmap(addr, len) != 0) return fail(env, errno);
  return number(env, 0);
}

/* baseAlignment(buffer) -> the largest power of two (up to 2^30) dividing the buffer's address; 0 if detached.
   Only these low bits leave C: enough to check an alignment promise, not to learn the address. */
static napi_value base_alignment(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  void *data;
  size_t size;
  bool is_ab;
  if (napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, argv[0], &data, &size) != napi_ok) {
    napi_throw_type_error(env, NULL, "forge_os.baseAlignment: expected an ArrayBuffer");
    return NULL;
  }
  if (data == NULL || size == 0) return number(env, 0);
  uintptr_t a = (uintptr_t)data;
  uintptr_t low = a & (~a + 1);
  return number(env, low > ((uintptr_t)1 << 30) || low == 0 ? (double)(1 << 30) : (double)low);
}

/* protect(buffer, offset, length, prot) -> 0 or -errno; prot bits: 1 read, 2 write, 4 exec */
static napi_value protect(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  char *addr;
  size_t len;
  int ok = get_span(env, argv[0], argv[1], argv[2], &addr, &len);
  if (ok < 0) return NULL;
  if (ok == 0) return fail(env, ERANGE);
  double p = get_count(env, argv[3]);
  if (p < 0 || p > 7) return fail(env, EINVAL);
  int prot = (((int)p & 1) ? PROT_READ : 0) | (((int)p & 2) ? PROT_WRITE : 0) | (((int)p & 4) ? PROT_EXEC : 0);
  if (mprotect(addr, len, prot) != 0) return fail(env, errno);
  return number(env, 0);
}

/* advise(buffer, offset, length, advice) -> 0 or -errno; advice: 0 DONTNEED 1 DONTDUMP 2 HUGEPAGE 3 WILLNEED
   4 DODUMP 5 NOHUGEPAGE */
static napi_value advise(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  char *addr;
  size_t len;
  int ok = get_span(env, argv[0], argv[1], argv[2], &addr, &len);
  if (ok < 0) return NULL;
  if (ok == 0) return fail(env, ERANGE);
  int advice;
  switch ((int)get_count(env, argv[3])) {
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
    default: return fail(env, ENOTSUP);
  }
  if (madvise(addr, len, advice) != 0) return fail(env, errno);
  return number(env, 0);
}

static napi_value lock_common(napi_env env, napi_callback_info info, int lock) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  char *addr;
  size_t len;
  int ok = get_span(env, argv[0], argv[1], argv[2], &addr, &len);
  if (ok < 0) return NULL;
  if (ok == 0) return fail(env, ERANGE);
  if ((lock ? mlock(addr, len) : munlock(addr, len)) != 0) return fail(env, errno);
  return number(env, 0);
}

/* lock(buffer, offset, length) / unlock(...) -> 0 or -errno */
static napi_value lock(napi_env env, napi_callback_info info) { return lock_common(env, info, 1); }
static napi_value unlock(napi_env env, napi_callback_info info) { return lock_common(env, info, 0); }

#ifdef __linux__
/* mbind(buffer, offset, length, mode, nodemask BigUint64Array, maxnode, flags) -> 0 or -errno */
static napi_value do_mbind(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!get_args(env, info, 7, argv)) return NULL;
  char *addr;
  size_t len;
  int ok = get_span(env, argv[0], argv[1], argv[2], &addr, &len);
  if (ok < 0) return NULL;
  if (ok == 0) return fail(env, ERANGE);
  napi_typedarray_type type;
  size_t words;
  void *mask;
  if (napi_get_typedarray_info(env, argv[4], &type, &words, &mask, NULL, NULL) != napi_ok ||
      type != napi_biguint64_array) {
    napi_throw_type_error(env, NULL, "forge_os.mbind: the nodemask must be a BigUint64Array");
    return NULL;
  }
  double mode = get_count(env, argv[3]), maxnode = get_count(env, argv[5]), flags = get_count(env, argv[6]);
  if (mode < 0 || maxnode < 0 || flags < 0 || maxnode > (double)words * 64 + 1) return fail(env, EINVAL);
  long rc = syscall(SYS_mbind, (unsigned long)addr, (unsigned long)len, (unsigned long)mode,
                    (const unsigned long *)mask, (unsigned long)maxnode, (unsigned)flags);
  if (rc != 0) return fail(env, errno);
  return number(env, 0);
}

/* getMempolicy(buffer, offset, flags, out BigUint64Array) -> 0 or -errno; out[0] = mode (or node with
   MPOL_F_NODE), out[1..] = nodemask words */
static napi_value get_mempolicy_at(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  char *addr;
  size_t len;
  napi_value one = number(env, 1);
  int ok = get_span(env, argv[0], argv[1], one, &addr, &len);
  if (ok < 0) return NULL;
  if (ok == 0) return fail(env, ERANGE);
  napi_typedarray_type type;
  size_t words;
  void *out;
  if (napi_get_typedarray_info(env, argv[3], &type, &words, &out, NULL, NULL) != napi_ok ||
      type != napi_biguint64_array || words < 2) {
    napi_throw_type_error(env, NULL, "forge_os.getMempolicy: out must be a BigUint64Array of 2 or more");
    return NULL;
  }
  double flags = get_count(env, argv[2]);
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
#endif
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
