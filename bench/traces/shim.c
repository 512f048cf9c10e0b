// An LD_PRELOAD shim that logs every heap call of a program, for bench/traces.ts. Ours; built and used by
// scripts/record-traces.mjs:  cc -O2 -shared -fPIC -o shim.so shim.c -ldl -lpthread
//   FORGE_TRACE_OUT=/tmp/x LD_PRELOAD=./shim.so program ...   writes /tmp/x.<pid>, one file per process.
// Each record is four little-endian u64: op, a, b, result (see the OP_ constants). The real functions come from
// dlsym(RTLD_NEXT); while dlsym itself allocates, requests are served from a static bootstrap buffer and not logged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OP_MALLOC = 1, OP_CALLOC = 2, OP_REALLOC = 3, OP_FREE = 4, OP_MEMALIGN = 5 };

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

static _Alignas(16) unsigned char bootstrap[1 << 16];
static size_t bootstrap_used;
static int resolving;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t records[4 * 4096];
static size_t count;
static int fd = -1;
static pid_t fd_pid;
// initial-exec: a preloaded library's TLS sits in the static block, so reading it never calls malloc
static __thread int inside __attribute__((tls_model("initial-exec")));

static int in_bootstrap(void *p) {
  return (unsigned char *)p >= bootstrap && (unsigned char *)p < bootstrap + sizeof bootstrap;
}

static void *bootstrap_alloc(size_t size) {
  size_t at = (bootstrap_used + 15) & ~(size_t)15;
  if (at + size > sizeof bootstrap) return NULL;
  bootstrap_used = at + size;
  return bootstrap + at;
}

static void resolve(void) {
  if (real_malloc != NULL || resolving) return;
  resolving = 1;
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_free = dlsym(RTLD_NEXT, "free");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  real_memalign = dlsym(RTLD_NEXT, "memalign");
  resolving = 0;
}

// Called with the lock held.
static void flush_locked(void) {
  if (count == 0) return;
  if (fd < 0 || fd_pid != getpid()) {
    const char *base = getenv("FORGE_TRACE_OUT");
    if (base == NULL) {
      count = 0;
      return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.%d", base, (int)getpid());
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    fd_pid = getpid();
    if (fd < 0) {
      count = 0;
      return;
    }
  }
  const char *p = (const char *)records;
  size_t left = count * 4 * sizeof(uint64_t);
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= (size_t)n;
  }
  count = 0;
}

static void log_call(uint64_t op, uint64_t a, uint64_t b, void *result) {
  pthread_mutex_lock(&lock);
  uint64_t *r = records + 4 * count;
  r[0] = op;
  r[1] = a;
  r[2] = b;
  r[3] = (uint64_t)(uintptr_t)result;
  if (++count == sizeof records / sizeof records[0] / 4) flush_locked();
  pthread_mutex_unlock(&lock);
}

// A fork copies the buffer: write it out first, so the child starts empty and logs to its own file.
static void before_fork(void) {
  pthread_mutex_lock(&lock);
  flush_locked();
}
static void after_fork(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void start(void) {
  resolve();
  pthread_atfork(before_fork, after_fork, after_fork);
}

__attribute__((destructor)) static void finish(void) {
  pthread_mutex_lock(&lock);
  flush_locked();
  pthread_mutex_unlock(&lock);
}

void *malloc(size_t size) {
  if (real_malloc == NULL) {
    resolve();
    if (real_malloc == NULL) return bootstrap_alloc(size);
  }
  if (inside) return real_malloc(size);
  inside = 1;
  void *p = real_malloc(size);
  log_call(OP_MALLOC, size, 0, p);
  inside = 0;
  return p;
}

void *calloc(size_t n, size_t size) {
  if (real_calloc == NULL) {
    resolve();
    if (real_calloc == NULL) // static memory is zero
      return size != 0 && n > SIZE_MAX / size ? NULL : bootstrap_alloc(n * size);
  }
  if (inside) return real_calloc(n, size);
  inside = 1;
  void *p = real_calloc(n, size);
  log_call(OP_CALLOC, n, size, p);
  inside = 0;
  return p;
}

void *realloc(void *old, size_t size) {
  if (in_bootstrap(old)) {
    void *p = malloc(size);
    size_t room = (size_t)(bootstrap + sizeof bootstrap - (unsigned char *)old);
    if (p != NULL) memcpy(p, old, size < room ? size : room);
    return p;
  }
  if (real_realloc == NULL) resolve();
  if (inside) return real_realloc(old, size);
  inside = 1;
  void *p = real_realloc(old, size);
  log_call(OP_REALLOC, (uint64_t)(uintptr_t)old, size, p);
  inside = 0;
  return p;
}

void *reallocarray(void *old, size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(old, n * size);
}

void free(void *p) {
  if (p == NULL || in_bootstrap(p)) return;
  if (real_free == NULL) resolve();
  if (inside) {
    real_free(p);
    return;
  }
  inside = 1;
  log_call(OP_FREE, (uint64_t)(uintptr_t)p, 0, NULL); // before the free: another thread may get p back at once
  real_free(p);
  inside = 0;
}

int posix_memalign(void **out, size_t align, size_t size) {
  if (real_posix_memalign == NULL) resolve();
  if (inside) return real_posix_memalign(out, align, size);
  inside = 1;
  int rc = real_posix_memalign(out, align, size);
  log_call(OP_MEMALIGN, align, size, rc == 0 ? *out : NULL);
  inside = 0;
  return rc;
}

void *aligned_alloc(size_t align, size_t size) {
  if (real_aligned_alloc == NULL) resolve();
  if (inside) return real_aligned_alloc(align, size);
  inside = 1;
  void *p = real_aligned_alloc(align, size);
  log_call(OP_MEMALIGN, align, size, p);
  inside = 0;
  return p;
}

void *memalign(size_t align, size_t size) {
  if (real_memalign == NULL) resolve();
  if (inside) return real_memalign(align, size);
  inside = 1;
  void *p = real_memalign(align, size);
  log_call(OP_MEMALIGN, align, size, p);
  inside = 0;
  return p;
}
