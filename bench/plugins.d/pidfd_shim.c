// valgrind 3.19 does not know pidfd_open (syscall 434): emulate it with a pipe that becomes
// readable when the child exits (a thread waits with WNOWAIT, so the caller still reaps it).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
struct w { pid_t pid; int fd; };
static void* waiter(void* p) {
  struct w* a = p; siginfo_t info;
  while (waitid(P_PID, a->pid, &info, WEXITED | WNOWAIT) < 0) {}
  (void)!write(a->fd, "x", 1); close(a->fd); return 0;
}
long syscall(long n, ...) {
  va_list ap; va_start(ap, n);
  long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long), a4 = va_arg(ap, long),
       a5 = va_arg(ap, long), a6 = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_pidfd_open) {
    int fds[2]; if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    static struct w args[256]; static int next;
    struct w* a = &args[__atomic_fetch_add(&next, 1, __ATOMIC_SEQ_CST) % 256];
    a->pid = (pid_t)a1; a->fd = fds[1];
    pthread_t t; pthread_create(&t, 0, waiter, a); pthread_detach(t);
    return fds[0];
  }
  static long (*real)(long, ...);
  if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(n, a1, a2, a3, a4, a5, a6);
}
