// LD_PRELOAD shim for the integration tests: moves the wall clock
// (CLOCK_REALTIME, gettimeofday, time) by ALLSPARK_TEST_TIME_OFFSET seconds,
// so that a server can mint keys that are already expired (PROTOCOL.md
// section 2) without a test waiting 60 s. Monotonic clocks are untouched.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long shift_seconds(void) {
  static int read_env = 0;
  static long shift = 0;
  if (!read_env) {
    const char* s = getenv("ALLSPARK_TEST_TIME_OFFSET");
    shift = s ? atol(s) : 0;
    read_env = 1;
  }
  return shift;
}

int clock_gettime(clockid_t id, struct timespec* ts) {
  static int (*real)(clockid_t, struct timespec*);
  if (!real) real = (int (*)(clockid_t, struct timespec*))dlsym(RTLD_NEXT, "clock_gettime");
  int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += shift_seconds();
  return r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  static int (*real)(struct timeval*, void*);
  if (!real) real = (int (*)(struct timeval*, void*))dlsym(RTLD_NEXT, "gettimeofday");
  int r = real(tv, tz);
  if (r == 0 && tv) tv->tv_sec += shift_seconds();
  return r;
}

time_t time(time_t* out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out) *out = ts.tv_sec;
  return ts.tv_sec;
}
